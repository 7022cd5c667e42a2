package brokertest

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// Recorder is a broker.Subscriber that keeps what it receives, for the
// suite and for engines' own tests. Its methods are safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every event
	rec     Record
}

// Record is what a Recorder received.
type Record struct {
	Deliveries []Delivery
	ClosedSeq  uint64
	ClosedBy   string // who closed the room, when the engine said (ClosedBy)
	AfterClose bool   // something arrived after Closed
	Total      int    // the last Viewers total; -1 before any
	Losses     int    // calls of Lost
	Claims     []uint64
	// OwnerNews holds the deliveries RenderOwnerNews made, decoded; they
	// are in Deliveries too.
	OwnerNews []broker.OwnerNews
}

// Delivery is one Deliver or DeliverConflated call.
type Delivery struct {
	Seq  uint64
	Body []byte
	// Conflate is the key DeliverConflated was given; empty for Deliver.
	Conflate string
}

var (
	_ broker.Subscriber           = (*Recorder)(nil)
	_ broker.ClosedBySubscriber   = (*Recorder)(nil)
	_ broker.ConflatingSubscriber = (*Recorder)(nil)
)

// NewRecorder returns a Recorder that has received nothing.
func NewRecorder() *Recorder {
	return &Recorder{changed: make(chan struct{}), rec: Record{Total: -1}}
}

func (r *Recorder) event(record func(*Record)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec.ClosedSeq != 0 {
		r.rec.AfterClose = true
	}
	record(&r.rec)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Recorder) Deliver(seq uint64, body []byte) {
	news, isNews := ParseOwnerNews(body)
	r.event(func(rec *Record) {
		rec.Deliveries = append(rec.Deliveries, Delivery{Seq: seq, Body: slices.Clone(body)})
		if isNews {
			rec.OwnerNews = append(rec.OwnerNews, news)
		}
	})
}
func (r *Recorder) DeliverConflated(seq uint64, body []byte, key string) {
	r.event(func(rec *Record) {
		rec.Deliveries = append(rec.Deliveries, Delivery{Seq: seq, Body: slices.Clone(body), Conflate: key})
	})
}

func (r *Recorder) Closed(seq uint64) { r.event(func(rec *Record) { rec.ClosedSeq = seq }) }
func (r *Recorder) ClosedBy(seq uint64, by string) {
	r.event(func(rec *Record) { rec.ClosedSeq, rec.ClosedBy = seq, by })
}
func (r *Recorder) Viewers(total int) { r.event(func(rec *Record) { rec.Total = total }) }
func (r *Recorder) Lost()             { r.event(func(rec *Record) { rec.Losses++ }) }
func (r *Recorder) OwnerClaimed(epoch uint64) {
	r.event(func(rec *Record) { rec.Claims = append(rec.Claims, epoch) })
}

// Record returns a copy of what r received.
func (r *Recorder) Record() Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.copyLocked()
}

func (r *Recorder) copyLocked() Record {
	c := r.rec
	c.Deliveries, c.Claims, c.OwnerNews = slices.Clone(c.Deliveries), slices.Clone(c.Claims), slices.Clone(c.OwnerNews)
	return c
}

// Wait waits up to 10 s for done to hold of what r received, and returns
// that; it fails the test otherwise.
func (r *Recorder) Wait(t testing.TB, done func(Record) bool) Record {
	t.Helper()
	rec, ok := r.WaitFor(waitFor, done)
	if !ok {
		t.Fatalf("condition not met within %v: %d deliveries, Closed(%d), viewers %d, lost %d, owner news %+v",
			waitFor, len(rec.Deliveries), rec.ClosedSeq, rec.Total, rec.Losses, rec.OwnerNews)
	}
	return rec
}

// WaitFor waits up to d for done to hold, and reports whether it did.
func (r *Recorder) WaitFor(d time.Duration, done func(Record) bool) (Record, bool) {
	deadline := time.After(d)
	for {
		r.mu.Lock()
		rec, changed := r.copyLocked(), r.changed
		r.mu.Unlock()
		if done(rec) {
			return rec, true
		}
		select {
		case <-changed:
		case <-deadline:
			return rec, false
		}
	}
}

// WaitDeliveries waits for at least n deliveries and returns them all.
func (r *Recorder) WaitDeliveries(t testing.TB, n int) []Delivery {
	t.Helper()
	return r.Wait(t, func(rec Record) bool { return len(rec.Deliveries) >= n }).Deliveries
}

// RenderOwnerNews is a broker.Renderer for tests: a Recorder recognises
// what it renders and keeps it in Record.OwnerNews.
func RenderOwnerNews(news broker.OwnerNews) broker.Publication {
	body, _ := json.Marshal(ownerNewsBody{News: &ownerNews{news.Room, news.Epoch, news.Away, news.GraceLeft.Milliseconds()}})
	return broker.Publication{Body: body, MaxHistoryMessages: 100, MaxHistoryBytes: 1 << 20}
}

type ownerNewsBody struct {
	News *ownerNews `json:"brokertestOwnerNews"`
}

type ownerNews struct {
	Room        string `json:"room"`
	Epoch       uint64 `json:"epoch"`
	Away        bool   `json:"away"`
	GraceLeftMs int64  `json:"graceLeftMs"`
}

// ParseOwnerNews decodes a body RenderOwnerNews made.
func ParseOwnerNews(body []byte) (broker.OwnerNews, bool) {
	var b ownerNewsBody
	if !bytes.HasPrefix(body, []byte(`{"brokertestOwnerNews"`)) || json.Unmarshal(body, &b) != nil || b.News == nil {
		return broker.OwnerNews{}, false
	}
	n := b.News
	return broker.OwnerNews{Room: n.Room, Epoch: n.Epoch, Away: n.Away, GraceLeft: time.Duration(n.GraceLeftMs) * time.Millisecond}, true
}
