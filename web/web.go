// Package web holds the pages the server shows people: the demo at "/".
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed index.html
var files embed.FS

// Handler serves the embedded pages.
func Handler() http.Handler {
	sub, _ := fs.Sub(files, ".")
	return http.FileServerFS(sub)
}
