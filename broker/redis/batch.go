package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// scriptBatch is how many calls of one script upkeep sends in a pipeline:
// a node with thousands of rooms then waits for a round trip per batch
// rather than per room, and no batch's request or replies grow large.
const scriptBatch = 256

// eachScript runs script once for each item, with the keys and arguments
// that call gives it, scriptBatch calls to a pipeline, and hands each
// item's reply to reply, in order, once its batch is back. A reply is what
// Script.Run would have returned for that item alone: a batch that failed
// as a whole (Redis unreachable, ctx done) gives each of its items the
// error, so that the caller handles it as it would a failed single call,
// and the room waits for the next round. It holds no lock: reply may take
// any, and call Redis.
//
// Script.Run falls back from EVALSHA to EVAL when Redis does not have the
// script (NOSCRIPT: Redis restarted, or its script cache was flushed), but
// only after that reply is back, which a pipeline's calls cannot wait for.
// So a batch is sent as EVALSHAs; when some come back NOSCRIPT, the script
// is loaded (SCRIPT LOAD) and those calls alone are sent once more. A call
// refused with NOSCRIPT did not run, so running it again runs it once.
// Should the load fail, or Redis lose the script again in between, the
// calls keep their error and their rooms wait for the next round.
func eachScript[T any](ctx context.Context, c goredis.Cmdable, script *goredis.Script, items []T,
	call func(T) (keys []string, args []any), reply func(T, *goredis.Cmd)) {
	for start := 0; start < len(items); start += scriptBatch {
		batch := items[start:min(start+scriptBatch, len(items))]
		cmds := evalShaBatch(ctx, c, script, batch, call)
		var refused []int
		for i, cmd := range cmds {
			if goredis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
				refused = append(refused, i)
			}
		}
		if len(refused) > 0 {
			retryRefused(ctx, c, script, batch, call, cmds, refused)
		}
		for i, item := range batch {
			reply(item, cmds[i])
		}
	}
}

// evalShaBatch sends one pipeline of EVALSHAs of script, one per item, and
// returns their replies in order.
func evalShaBatch[T any](ctx context.Context, c goredis.Cmdable, script *goredis.Script, items []T,
	call func(T) (keys []string, args []any)) []*goredis.Cmd {
	pipe := c.Pipeline()
	cmds := make([]*goredis.Cmd, len(items))
	for i, item := range items {
		keys, args := call(item)
		cmds[i] = script.EvalSha(ctx, pipe, keys, args...)
	}
	// Each command holds its own error, the pipeline's included: the first
	// one returned here says nothing more.
	_, _ = pipe.Exec(ctx)
	return cmds
}

// retryRefused loads script into Redis and reruns the calls of batch at the
// indexes refused, which Redis refused with NOSCRIPT, putting their new
// replies in cmds.
func retryRefused[T any](ctx context.Context, c goredis.Cmdable, script *goredis.Script, batch []T,
	call func(T) (keys []string, args []any), cmds []*goredis.Cmd, refused []int) {
	if err := script.Load(ctx, c).Err(); err != nil {
		for _, i := range refused {
			cmds[i].SetErr(fmt.Errorf("%w (loading the script: %w)", cmds[i].Err(), err))
		}
		return
	}
	again := make([]T, len(refused))
	for j, i := range refused {
		again[j] = batch[i]
	}
	for j, cmd := range evalShaBatch(ctx, c, script, again, call) {
		cmds[refused[j]] = cmd
	}
}
