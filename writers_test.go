package rtbroadcaster

import "testing"

// TestRingKeepsOrder: the ready list is first in, first out, across growth
// and wrap-around.
func TestRingKeepsOrder(t *testing.T) {
	var r ring
	boxes := make([]outbox, 100)
	next, want := 0, 0
	for round := range 50 {
		for range round % 7 {
			r.push(&boxes[next%len(boxes)])
			next++
		}
		for range round % 5 {
			o := r.pop()
			if want == next {
				if o != nil {
					t.Fatalf("pop from an empty ring gave %p", o)
				}
				continue
			}
			if o != &boxes[want%len(boxes)] {
				t.Fatalf("pop %d: got the wrong outbox", want)
			}
			want++
		}
	}
	for ; want < next; want++ {
		if r.pop() != &boxes[want%len(boxes)] {
			t.Fatalf("pop %d: got the wrong outbox", want)
		}
	}
	if r.pop() != nil || r.n != 0 {
		t.Fatal("the ring is not empty at the end")
	}
}
