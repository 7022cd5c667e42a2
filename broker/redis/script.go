package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// script is a Lua script in the two forms the engine runs: as written,
// publishing with PUBLISH, which a single Redis delivers to every
// subscriber; and for a Redis Cluster with SPUBLISH, which keeps each
// message on the shard that serves its room's slot (plain PUBLISH in a
// cluster is sent to every node of every shard, so it does not scale out).
// The channel shares the room's hash tag, so it is in the slot of the keys
// the script touches.
type script struct {
	plain, sharded *goredis.Script
	shardedSrc     string // for EVAL, when the cluster lacks the script
}

func newScript(src string) *script {
	shardedSrc := strings.ReplaceAll(src, "'PUBLISH'", "'SPUBLISH'")
	return &script{plain: goredis.NewScript(src), sharded: goredis.NewScript(shardedSrc), shardedSrc: shardedSrc}
}

// pick returns the form of s this engine runs.
func (b *Broker) pick(s *script) *goredis.Script {
	if b.cluster != nil {
		return s.sharded
	}
	return s.plain
}

// run runs s once with keys and args, as goredis.Script.Run does: EVALSHA,
// then EVAL when Redis does not have the script (it restarted, or a new
// master took over). A single Redis's client retries nothing (see Open);
// a cluster's client follows MOVED and ASK redirections, which Redis sends
// instead of running the command, but is told not to send a call again
// once it may have reached Redis: a broadcast whose reply was lost may
// have been published, and running it again would publish it twice.
func (b *Broker) run(ctx context.Context, s *script, keys []string, args ...any) *goredis.Cmd {
	if b.cluster == nil {
		return s.plain.Run(ctx, b.client, keys, args...)
	}
	cmd := b.evalOnce(ctx, "evalsha", s.sharded.Hash(), keys, args)
	if goredis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd = b.evalOnce(ctx, "eval", s.shardedSrc, keys, args)
	}
	if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) {
		// The client learns a new master from a MOVED reply, which a dead
		// master does not send: ask the cluster now rather than when the
		// client's map is 10 s old. Reloads are coalesced.
		b.cluster.ReloadState(ctx)
	}
	return cmd
}

// evalOnce sends one EVAL or EVALSHA that the cluster client does not repeat.
func (b *Broker) evalOnce(ctx context.Context, verb, script string, keys []string, args []any) *goredis.Cmd {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	cmdArgs = append(cmdArgs, verb, script, len(keys))
	for _, k := range keys {
		cmdArgs = append(cmdArgs, k)
	}
	cmdArgs = append(cmdArgs, args...)
	cmd := goredis.NewCmd(ctx, cmdArgs...)
	_ = b.client.Process(ctx, sentOnce{cmd})
	return cmd
}

// sentOnce is a command that the cluster client does not send again when
// its connection fails after it was written.
type sentOnce struct{ *goredis.Cmd }

// NoRetry tells go-redis not to retry the command.
func (sentOnce) NoRetry() bool { return true }

// runAndWait runs s once as run does, followed on the same connection by
// WAIT for Options.WaitReplicas replicas, and returns the script's reply
// and how many replicas confirmed every write up to it within
// WaitTimeout. err is set when the wait itself failed.
func (b *Broker) runAndWait(ctx context.Context, s *script, keys []string, args ...any) (cmd *goredis.Cmd, replicas int, err error) {
	var conn goredis.Cmdable = b.client // a single Redis's client pipelines on one connection
	if b.cluster != nil {
		master, err := b.cluster.MasterForKey(ctx, keys[0])
		if err != nil {
			return nil, 0, err
		}
		conn = master
	}
	sc := b.pick(s)
	cmd, wait := b.evalAndWait(ctx, conn, sc, keys, args)
	if goredis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		// The script did not run, and nothing was written.
		if err := sc.Load(ctx, conn).Err(); err != nil {
			return nil, 0, err
		}
		cmd, wait = b.evalAndWait(ctx, conn, sc, keys, args)
	}
	if cmd.Err() != nil && b.cluster != nil {
		b.cluster.ReloadState(ctx)
	}
	n, err := wait.Result()
	if cmd.Err() == nil && err != nil {
		return cmd, 0, fmt.Errorf("wait for replicas: %w", err)
	}
	return cmd, int(n), nil
}

// evalAndWait sends an EVALSHA of sc and a WAIT in one pipeline.
func (b *Broker) evalAndWait(ctx context.Context, conn goredis.Cmdable, sc *goredis.Script, keys []string, args []any) (*goredis.Cmd, *goredis.IntCmd) {
	pipe := conn.Pipeline()
	cmd := sc.EvalSha(ctx, pipe, keys, args...)
	wait := goredis.NewIntCmd(ctx, "wait", b.opts.WaitReplicas, ms(b.opts.WaitTimeout))
	_ = pipe.Process(ctx, wait)
	_, _ = pipe.Exec(ctx) // each command holds its own error
	return cmd, wait
}
