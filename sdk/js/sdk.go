// Package sdkjs embeds the JavaScript SDK so that the server can serve it.
package sdkjs

import "net/http"

// Handler serves the SDK files; mount it under /sdk/ with http.StripPrefix.
func Handler() http.Handler {
	return http.NotFoundHandler()
}
