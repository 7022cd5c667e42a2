// Package sdkjs embeds the JavaScript SDK so that the server can serve it:
//
//	/rtbroadcaster.mjs  the ES module, byte for byte the file in this folder
//	/rtbroadcaster.js   a classic script for <script src> pages, derived from the module
//
// The module is the only source of the SDK. The classic script is built from it once, at init:
// the module's final `export { A, B };` statement becomes assignments to globals, the rest is
// wrapped in a function so that its declarations stay private.
package sdkjs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/internal/etag"
)

//go:embed rtbroadcaster.mjs
var moduleSource []byte

const (
	// legacyGlobal is the name the original SDK defined; pages written for it use it as it is.
	legacyGlobal = "RTBroadcaster"
	// namespaceGlobal holds every export of the module, for classic-script pages that want the modern API.
	namespaceGlobal = "rtbroadcaster"
)

// An asset is one served file, with the validator computed once.
type asset struct {
	body []byte
	etag string
}

func newAsset(body []byte) asset {
	return asset{body: body, etag: etag.Of(body)}
}

var assets = map[string]asset{
	"/rtbroadcaster.mjs": newAsset(moduleSource),
	"/rtbroadcaster.js":  newAsset(mustClassicScript(moduleSource)),
}

// Handler serves the SDK files; mount it under /sdk/ with http.StripPrefix.
//
// The URLs carry no version, and a page must get the SDK that matches the server it talks to, so
// responses are "no-cache" with an ETag: a browser may keep a copy but revalidates it on every load,
// which costs a 304 with no body while the server binary is unchanged and picks up a new SDK as soon
// as the server is upgraded.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		// ServeContent answers If-None-Match against the ETag set above, and Range requests.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

// exportStatement matches the module's one export statement, which must be its last.
var exportStatement = regexp.MustCompile(`(?m)^export \{([^}]*)\};\s*\z`)

// moduleSyntax finds anything else a classic script could not run.
var moduleSyntax = regexp.MustCompile(`(?m)^\s*(export|import)\b|\bimport\.meta\b`)

func mustClassicScript(module []byte) []byte {
	script, err := classicScript(module)
	if err != nil {
		panic("sdkjs: rtbroadcaster.mjs cannot be served as a classic script: " + err.Error())
	}
	return script
}

// classicScript turns the module into a script that defines the globals RTBroadcaster (as the
// original SDK did) and rtbroadcaster (every export).
func classicScript(module []byte) ([]byte, error) {
	loc := exportStatement.FindSubmatchIndex(module)
	if loc == nil {
		return nil, errors.New("it does not end with one `export { ... };` statement")
	}
	body := module[:loc[0]]
	if m := moduleSyntax.Find(body); m != nil {
		return nil, fmt.Errorf("it uses %q outside its final export statement", strings.TrimSpace(string(m)))
	}
	names, err := exportedNames(string(module[loc[2]:loc[3]]))
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, legacyGlobal) {
		return nil, fmt.Errorf("it does not export %s", legacyGlobal)
	}

	var b bytes.Buffer
	b.WriteString("// rtbroadcaster JavaScript SDK, classic script: derived by the server from /sdk/rtbroadcaster.mjs.\n")
	b.WriteString("(function () {\n'use strict';\n") // modules are strict; keep the same semantics
	b.Write(body)
	fmt.Fprintf(&b, "globalThis.%s = %s;\n", legacyGlobal, legacyGlobal)
	fmt.Fprintf(&b, "globalThis.%s = Object.freeze({ %s });\n", namespaceGlobal, strings.Join(names, ", "))
	b.WriteString("})();\n")
	return b.Bytes(), nil
}

// identifier is what the export list may hold: plain names, no renames, so that each global
// name is the name the module exports.
var identifier = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

func exportedNames(list string) ([]string, error) {
	var names []string
	for _, item := range strings.Split(list, ",") {
		name := strings.TrimSpace(item)
		if name == "" {
			continue // a trailing comma
		}
		if !identifier.MatchString(name) {
			return nil, fmt.Errorf("its export list holds %q; only plain names are supported", name)
		}
		names = append(names, name)
	}
	return names, nil
}
