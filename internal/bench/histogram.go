package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram keeps latencies in log-linear buckets, as HDR histograms do:
// 32 buckets per power of two, so any value is known within 1/64 (1.6 %)
// of itself, in a fixed 10 KiB per shard whatever the number of samples.
const (
	subBuckets = 32
	histShards = 16 // viewers record into shard index%histShards: little contention
	numBuckets = (64 - 5) * subBuckets
)

type histShard struct {
	counts [numBuckets]atomic.Uint64
	_      [64]byte // keep shards off each other's cache lines
}

// histogram is safe for concurrent recording.
type histogram struct {
	shards [histShards]histShard
	max    atomic.Int64
}

func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - 6
	return (shift+1)*subBuckets + int(v>>shift) - subBuckets
}

// bucketMid is the middle of a bucket's range of values.
func bucketMid(i int) uint64 {
	if i < 2*subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	low := uint64(i%subBuckets+subBuckets) << shift
	return low + (uint64(1)<<shift)/2
}

// record adds one latency to shard.
func (h *histogram) record(shard int, d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.shards[shard%histShards].counts[bucketOf(uint64(d))].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// merged returns the count of every bucket over all shards, and the total.
func (h *histogram) merged() ([]uint64, uint64) {
	counts := make([]uint64, numBuckets)
	var total uint64
	for s := range h.shards {
		for i := range counts {
			n := h.shards[s].counts[i].Load()
			counts[i] += n
			total += n
		}
	}
	return counts, total
}

// quantiles returns the latency at each quantile q (0..1).
func (h *histogram) quantiles(qs ...float64) []time.Duration {
	counts, total := h.merged()
	out := make([]time.Duration, len(qs))
	if total == 0 {
		return out
	}
	for j, q := range qs {
		rank := uint64(q*float64(total-1)) + 1
		var seen uint64
		for i, n := range counts {
			seen += n
			if seen >= rank {
				out[j] = min(time.Duration(bucketMid(i)), time.Duration(h.max.Load()))
				break
			}
		}
	}
	return out
}
