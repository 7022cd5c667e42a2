package rtbroadcaster

import (
	"net/http"
	"strings"
)

// offersSubProtocol reports whether the handshake offers SubProtocol.
func offersSubProtocol(r *http.Request) bool {
	for _, line := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, protocol := range strings.Split(line, ",") {
			if strings.TrimSpace(protocol) == SubProtocol {
				return true
			}
		}
	}
	return false
}

// connectionToken is the token a client sent with its handshake: in the
// Sec-WebSocket-Protocol header or, as a last resort, in ?token= (which
// proxies and servers log with the URL).
func connectionToken(r *http.Request) string {
	for _, line := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, protocol := range strings.Split(line, ",") {
			if token, ok := strings.CutPrefix(strings.TrimSpace(protocol), TokenProtocolPrefix); ok {
				return token
			}
		}
	}
	return r.URL.Query().Get("token")
}
