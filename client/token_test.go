package client_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/auth"
	"github.com/rtbroadcaster/rtbroadcaster/client"
)

var tokenSecret = []byte("a test secret of thirty-two bytes")

func signedToken(t *testing.T, g auth.Grant, ttl time.Duration) string {
	t.Helper()
	g.Expires = time.Now().Add(ttl)
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, auth.Claims(g)).SignedString(tokenSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startAuthServer(t *testing.T) string {
	v, err := auth.New(auth.Config{HMACSecret: tokenSecret})
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, rtbroadcaster.WithTokenVerifier(v))
}

// TestTokenProviderIsAskedOnReconnect: a viewer's first token expires while
// it is in the room; after its connection drops, the provider is asked
// again and the rejoin goes through with the fresh token.
func TestTokenProviderIsAskedOnReconnect(t *testing.T) {
	var ahead atomic.Int64 // the server's clock runs this far ahead of the real one
	v, err := auth.New(auth.Config{HMACSecret: tokenSecret, Now: func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }})
	must(t, err)
	url := startServer(t, rtbroadcaster.WithTokenVerifier(v))
	ctx := testContext(t)
	ownerOpts := recordingOptions(newRecorder())
	ownerOpts.Token = func(context.Context) (string, error) {
		return signedToken(t, auth.Grant{Create: true}, time.Hour), nil
	}
	owner, err := client.Dial(ctx, url, ownerOpts)
	must(t, err)
	t.Cleanup(func() { _ = owner.Close() })
	room, err := owner.Create(ctx)
	must(t, err)

	p, proxied := startProxy(t, url)
	events := newRecorder()
	var asked atomic.Int32
	opts := recordingOptions(events)
	opts.Token = func(context.Context) (string, error) {
		ttl := time.Hour
		if asked.Add(1) == 1 {
			// JWT times have a resolution of one second: 2 s leaves the join at
			// least one, however the clock falls.
			ttl = 2 * time.Second
		}
		return signedToken(t, auth.Grant{Rooms: []string{room}}, ttl), nil
	}
	viewer, err := client.Dial(ctx, proxied, opts)
	must(t, err)
	t.Cleanup(func() { _ = viewer.Close() })
	recordActions(viewer, events)
	_, err = viewer.Join(ctx, room)
	must(t, err)

	ahead.Store(int64(3100 * time.Millisecond)) // the first token has expired
	p.Cut()
	events.waitFor(t, "reconnected", 1)
	if n := asked.Load(); n != 2 {
		t.Fatalf("the provider was asked %d times, want 2", n)
	}
	must(t, owner.Broadcast("after", "rejoin"))
	events.waitFor(t, "after:rejoin", 1)
}

func TestWithoutATokenCreateIsUnauthorized(t *testing.T) {
	url := startAuthServer(t)
	c := dial(t, url, newRecorder())
	_, err := c.Create(testContext(t))
	var e *rtbroadcaster.Error
	if !errors.As(err, &e) || e.Code != rtbroadcaster.CodeUnauthorized {
		t.Fatalf("create without a token: %v, want unauthorized", err)
	}
}

func TestTokenProviderErrorFailsTheDial(t *testing.T) {
	url := startAuthServer(t)
	opts := &client.Options{Token: func(context.Context) (string, error) { return "", errors.New("issuer down") }}
	if _, err := client.Dial(testContext(t), url, opts); err == nil {
		t.Fatal("dial succeeded without a token")
	}
}
