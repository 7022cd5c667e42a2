package etag

import "testing"

func TestOf(t *testing.T) {
	// The SHA-256 of "" begins e3b0c442 98fc1c14 9afbf4c8 996fb924.
	if got, want := Of(nil), `"e3b0c44298fc1c149afbf4c8996fb924"`; got != want {
		t.Errorf("Of(nil) = %s, want %s", got, want)
	}
	if Of([]byte("a")) == Of([]byte("b")) {
		t.Error("two bodies share an ETag")
	}
}
