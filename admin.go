package rtbroadcaster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rtbroadcaster/rtbroadcaster/auth"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
)

// AdminHandler serves the admin API that the dashboard at /admin uses. Mount
// it at /admin/api/. Every request needs "Authorization: Bearer <token>"
// with the token given to WithAdminToken; without one, the API is off and
// answers 404.
//
//	GET  /admin/api/rooms              this node's counters, the cluster's rooms (AdminSnapshot)
//	POST /admin/api/rooms/{id}/close   closes a room on every node (404: no open room has that id)
func (m *Manager) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/api/rooms", m.adminRooms)
	mux.HandleFunc("POST /admin/api/rooms/{id}/close", m.adminCloseRoom)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if m.adminToken == "" {
			writeJSONError(w, http.StatusNotFound, "the admin API is off: start the server with an admin token (-admin-token)")
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !auth.EqualSecret(token, m.adminToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rtbroadcaster admin"`)
			writeJSONError(w, http.StatusUnauthorized, "send the admin token as Authorization: Bearer <token>")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// AdminSnapshot is what the admin API reports about a node: its own
// counters, and the rooms of the whole cluster when the engine can list
// them (see broker.Lister).
type AdminSnapshot struct {
	Time             time.Time `json:"time"`
	Connections      int       `json:"connections"`
	Viewers          int64     `json:"viewers"`
	MessagesReceived uint64    `json:"messagesReceived"`
	MessagesSent     uint64    `json:"messagesSent"`
	SlowConsumers    uint64    `json:"slowConsumers"`
	BrokerUp         bool      `json:"brokerUp"`
	// Rooms are the busiest rooms, at most adminMaxRooms of them: those of
	// every node when Cluster, else this node's.
	Rooms []AdminRoom `json:"rooms"`
	// RoomCount counts the rooms found; when RoomsCut, Rooms holds fewer,
	// and there may be more than RoomCount (an engine lists a bounded
	// number).
	RoomCount int  `json:"roomCount"`
	RoomsCut  bool `json:"roomsCut"`
	// Cluster says Rooms includes the rooms of other nodes. Without it, the
	// engine cannot list rooms, or failed to: ClusterError says which.
	Cluster      bool   `json:"cluster"`
	ClusterError string `json:"clusterError,omitempty"`
	// SingleNode says the engine is the in-memory one: this process is the
	// whole deployment, and a room with no client here is one whose owner
	// left (waiting out its grace), not a room of another node.
	SingleNode bool `json:"singleNode"`
}

// AdminRoom is one open room.
type AdminRoom struct {
	ID string `json:"id"`
	// Here says the room has a client on this node. The fields below that
	// this node counts itself are zero for rooms that have none.
	Here bool `json:"here"`
	// OpenedAt is when the room first had a client on this node.
	OpenedAt time.Time `json:"openedAt,omitzero"`
	// Viewers is the room's count across all nodes, as the engine last
	// reported it, or this node's count before it did.
	Viewers      int64 `json:"viewers"`
	LocalViewers int64 `json:"localViewers"`
	// Messages counts the room's messages this node has received since it
	// first had a client in the room; the dashboard derives rates from it.
	Messages  uint64 `json:"messages"`
	OwnerHere bool   `json:"ownerHere"`
	// Seq is the room's last sequence number, as far as this node knows.
	Seq uint64 `json:"seq"`
	// OwnerAway says the room waits for its owner to come back (its grace),
	// as the engine's list says; false when the engine cannot list rooms.
	OwnerAway bool `json:"ownerAway"`
}

// adminMaxRooms caps a snapshot's rooms: the dashboard polls every second,
// and an operator looks for the busy ones.
const adminMaxRooms = 1000

// errNoLister is the ClusterError of an engine without broker.Lister.
var errNoLister = errors.New("the room engine cannot list the rooms of other nodes")

// AdminSnapshot returns the node's counters and the cluster's rooms,
// busiest first.
func (m *Manager) AdminSnapshot() AdminSnapshot {
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	return m.adminSnapshot(ctx)
}

func (m *Manager) adminSnapshot(ctx context.Context) AdminSnapshot {
	stats := m.Stats()
	snap := AdminSnapshot{
		Time:             time.Now(),
		Connections:      stats.Connections,
		Viewers:          m.metrics.viewersTotal.Load(),
		MessagesReceived: m.metrics.messagesTotal.Load(),
		MessagesSent:     m.metrics.messagesOutTotal.Load(),
		SlowConsumers:    stats.SlowConsumers,
		BrokerUp:         m.brokerReady() == nil,
		SingleNode:       m.singleNode(),
	}
	rooms := m.localAdminRooms()
	if cluster, err := m.clusterRooms(ctx); err != nil {
		snap.ClusterError = err.Error()
	} else {
		snap.Cluster = true
		rooms = mergeRooms(rooms, cluster)
	}
	slices.SortFunc(rooms, busiestFirst)
	snap.RoomCount = len(rooms)
	snap.RoomsCut = len(rooms) > adminMaxRooms
	snap.Rooms = rooms[:min(len(rooms), adminMaxRooms)]
	return snap
}

// singleNode reports whether the engine is the in-memory one, which no other
// process shares.
func (m *Manager) singleNode() bool {
	_, ok := m.broker.(*memory.Broker)
	return ok
}

// localAdminRooms describes the rooms with a client on this node. A replica
// kept only to hold the reservation of an owner that left (held.go) has none:
// its room is listed as the engine lists it, waiting for its owner.
func (m *Manager) localAdminRooms() []AdminRoom {
	rooms := []AdminRoom{}
	for _, r := range m.openRooms() {
		if ar := r.adminRoom(); ar.OwnerHere || ar.LocalViewers > 0 {
			rooms = append(rooms, ar)
		}
	}
	return rooms
}

func (r *room) adminRoom() AdminRoom {
	r.mu.Lock()
	ownerHere, seq := r.owner != nil, r.lastSeq
	r.mu.Unlock()
	viewers := r.totalViewers.Load()
	if viewers < 0 {
		viewers = r.localViewers.Load()
	}
	return AdminRoom{
		ID: r.id, Here: true, OpenedAt: r.openedAt, Viewers: viewers, LocalViewers: r.localViewers.Load(),
		Messages: r.messages.Load(), OwnerHere: ownerHere, Seq: seq,
	}
}

// clusterRooms asks the engine for one room more than a snapshot holds, so
// that a snapshot can say it was cut.
func (m *Manager) clusterRooms(ctx context.Context) ([]broker.RoomInfo, error) {
	lister, ok := m.broker.(broker.Lister)
	if !ok {
		return nil, errNoLister
	}
	return lister.Rooms(ctx, adminMaxRooms+1)
}

// mergeRooms adds the engine's rooms to this node's. A room in both keeps
// this node's viewer count, updated on every change, over the listed one,
// which may be seconds old, and takes from the list what only the engine
// knows.
func mergeRooms(local []AdminRoom, cluster []broker.RoomInfo) []AdminRoom {
	at := make(map[string]int, len(local))
	for i, r := range local {
		at[r.ID] = i
	}
	for _, info := range cluster {
		i, here := at[info.ID]
		if !here {
			local = append(local, AdminRoom{ID: info.ID, Viewers: int64(info.Viewers), Seq: info.Seq, OwnerAway: info.OwnerAway})
			continue
		}
		local[i].Seq = max(local[i].Seq, info.Seq)
		local[i].OwnerAway = info.OwnerAway
	}
	return local
}

// busiestFirst orders rooms by viewers, most first, then by id.
func busiestFirst(a, b AdminRoom) int {
	if c := cmp.Compare(b.Viewers, a.Viewers); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// openRooms are this node's replicas of open rooms.
func (m *Manager) openRooms() []*room {
	m.mu.Lock()
	defer m.mu.Unlock()
	rooms := make([]*room, 0, len(m.rooms))
	for _, r := range m.rooms {
		if !r.closed.Load() {
			rooms = append(rooms, r)
		}
	}
	return rooms
}

func (m *Manager) adminRooms(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), brokerTimeout)
	defer cancel()
	writeJSON(w, http.StatusOK, m.adminSnapshot(ctx))
}

// adminCloseRoom closes a room through the engine, so that it closes on
// every node: viewers get status 0 and close 1000, the owner status 0.
func (m *Manager) adminCloseRoom(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		writeJSONError(w, http.StatusBadRequest, "not a room id: "+id)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerTimeout)
	defer cancel()
	wasOpen, err := m.closeOpenRoom(ctx, id, "operator")
	if err != nil {
		writeJSONError(w, http.StatusBadGateway, "closing room "+id+": the room engine failed: "+err.Error())
		return
	}
	if !wasOpen {
		writeJSONError(w, http.StatusNotFound, "no open room has id "+id)
		return
	}
	m.log.Info("room closed by an operator", "room", id, "remote", clientAddr(r, m.trustedProxies))
	w.WriteHeader(http.StatusNoContent)
}

// closeOpenRoom closes room id, closed by by ("": as its owner would), and
// reports whether it was open; an engine that cannot tell (not a
// broker.OpenRoomCloser) is taken at its word, and its clients are not
// told who closed the room.
func (m *Manager) closeOpenRoom(ctx context.Context, id, by string) (wasOpen bool, err error) {
	if closer, ok := m.broker.(broker.OpenRoomCloser); ok {
		return closer.CloseOpenRoom(ctx, id, by)
	}
	return true, m.broker.CloseRoom(ctx, id)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}
