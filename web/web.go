// Package web holds the pages the server shows people: the live-slides demo at "/" and, at
// /legacy.html, a page written for the original JavaScript SDK. Both load the SDK from /sdk/.
// favicon.ico, which browsers ask for on every page, is a 16×16 dot in the demo's accent.
package web

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/rtbroadcaster/rtbroadcaster/internal/etag"
)

//go:embed *.html *.js *.css favicon.ico
var files embed.FS

// etags holds a validator per served path, computed once from the embedded bytes.
var etags = computeETags(files)

// Handler serves the embedded pages.
//
// Their URLs carry no version and the pages load the SDK of the same server, so responses are
// "no-cache" with an ETag: the browser revalidates on every load (a 304 while the binary is
// unchanged) and never runs a demo script older than the server it talks to.
func Handler() http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path == "/favicon.ico" {
			w.Header().Set("Content-Type", "image/x-icon") // Go's own table has no .ico; systems differ
		}
		if r.URL.Path == "/admin.html" {
			w.Header().Set("Content-Security-Policy", adminCSP)
		}
		if tag, ok := etags[r.URL.Path]; ok {
			// http.FileServer answers If-None-Match with 304 when this header is set.
			w.Header().Set("ETag", tag)
		}
		fileServer.ServeHTTP(w, r)
	})
}

// adminCSP is the dashboard's Content-Security-Policy, at /admin and at
// /admin.html alike: the page handles the admin token, so it runs only its
// own scripts and no other site may frame it (clickjacking).
const adminCSP = "default-src 'self'; frame-ancestors 'none'"

// AdminPage serves the operators' dashboard, admin.html, at the URL it is
// mounted on (/admin). The page holds no secret: it asks for the admin token
// and sends it to the admin API.
func AdminPage() http.Handler {
	pages := Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := r.Clone(r.Context())
		page.URL.Path = "/admin.html" // served with adminCSP
		pages.ServeHTTP(w, page)
	})
}

func computeETags(fsys embed.FS) map[string]string {
	tags := map[string]string{}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		panic("web: reading the embedded files: " + err.Error())
	}
	for _, entry := range entries {
		body, err := fs.ReadFile(fsys, entry.Name())
		if err != nil {
			panic("web: reading the embedded files: " + err.Error())
		}
		tags["/"+entry.Name()] = etag.Of(body)
	}
	tags["/"] = tags["/index.html"] // the file server serves index.html at "/"
	return tags
}
