package rtbroadcaster_test

import (
	"testing"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// TestRedisClusterFailover: two nodes on a Redis Cluster, two rooms on
// different shards, the owners on node 0 and viewers on both nodes; the
// owners broadcast while the master of the first room's shard is killed
// (kill -9) and the cluster promotes its replica. The first room goes on
// as after a Sentinel failover (see TestRedisSentinelFailover): each viewer
// keeps a gap-free stream or is asked to rejoin with 1012 and rejoins
// exactly, fresh viewers get the state kept before the kill, and a
// broadcast after the failover reaches everyone. The second room, on a
// shard that kept its master, notices nothing: no broadcast refused, no
// viewer asked to rejoin. The test logs how long the first room was
// unavailable.
func TestRedisClusterFailover(t *testing.T) {
	cluster := redistest.StartCluster(t)
	nodes := startRedisNodes(t, cluster.URL(), 2, 5*time.Second)
	owner, room, viewers := roomWithState(t, nodes)
	master := cluster.MasterOf(room) // a room's keys and channel are tagged {room}: the slot of room
	otherOwner, otherRoom := ownerOnAnotherShard(t, nodes[0].wsURL, cluster, master)
	otherViewers := joinEach(t, nodes, otherRoom, 0, 0)

	b := startBroadcasting(owner, room)
	other := startBroadcasting(otherOwner, otherRoom)
	unavailable := killDuringBroadcast(t, nodes, room, master.Kill)
	promoted := cluster.WaitMasterMoved(room, master, 10*time.Second)
	t.Logf("room unavailable for %v: from the kill -9 of master %s to the first broadcast that reached a viewer on the other node (replica %s promoted; cluster-node-timeout %v)",
		unavailable.Round(time.Millisecond), master.Addr, promoted.Addr, redistest.ClusterNodeTimeout)
	stopAfterFailover(t, b)
	otherSent := other.stop()
	t.Logf("in the room on another shard the owner sent %d broadcasts, %d refused", otherSent, other.refused.Load())
	if n := other.refused.Load(); n != 0 {
		t.Errorf("%d broadcasts refused in a room whose shard kept its master", n)
	}
	for i, v := range otherViewers {
		if last, rejoined := checkGapFreeOrRejoin(t, v); rejoined {
			t.Errorf("viewer on node %d of the room on the other shard was asked to rejoin after seq %d", i, last)
		}
	}

	checkRoomGoesOn(t, nodes, viewers, owner, room, b)
}

// ownerOnAnotherShard creates rooms on url until one is on a master other
// than master, and returns its owner and id.
func ownerOnAnotherShard(t *testing.T, url string, cluster *redistest.Cluster, master *redistest.Server) (*wsClient, string) {
	t.Helper()
	for range 50 {
		owner := dial(t, url, nil)
		room := owner.createRoom()
		if cluster.MasterOf(room) != master {
			return owner, room
		}
		owner.send(request(4, room, ""))
	}
	t.Fatal("50 rooms in a row on one of three shards")
	return nil, ""
}
