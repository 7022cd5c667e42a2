package sdkjs

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func TestServesModuleAndClassicScript(t *testing.T) {
	for _, path := range []string{"/rtbroadcaster.mjs", "/rtbroadcaster.js"} {
		rec := get(t, path, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, rec.Code)
		}
		if got := rec.Header().Get("Content-Type"); got != "text/javascript; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", path, got)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", path, got)
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", path)
		}
		if again := get(t, path, http.Header{"If-None-Match": {etag}}); again.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.Code)
		}
	}
	if got := get(t, "/rtbroadcaster.mjs", nil).Body.String(); got != string(moduleSource) {
		t.Error("the module is not served byte for byte")
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	if rec := get(t, "/sdk.go", nil); rec.Code != http.StatusNotFound {
		t.Errorf("GET /sdk.go: %d, want 404", rec.Code)
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/rtbroadcaster.js", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
}

func TestClassicScriptDefinesTheGlobals(t *testing.T) {
	script := string(assets["/rtbroadcaster.js"].body)
	for _, want := range []string{
		"globalThis.RTBroadcaster = RTBroadcaster;",
		"globalThis.rtbroadcaster = Object.freeze({ Broadcaster, ",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the classic script lacks %q", want)
		}
	}
	if strings.Contains(script, "\nexport ") {
		t.Error("the classic script still has an export statement")
	}
}

func TestClassicScriptRefusesWhatItCannotConvert(t *testing.T) {
	for name, module := range map[string]string{
		"no export":        "class RTBroadcaster {}\n",
		"export not last":  "export { RTBroadcaster };\nclass RTBroadcaster {}\n",
		"an import":        "import x from './x.mjs';\nclass RTBroadcaster {}\nexport { RTBroadcaster };\n",
		"a second export":  "export const a = 1;\nclass RTBroadcaster {}\nexport { RTBroadcaster };\n",
		"a rename":         "class RTB {}\nexport { RTB as RTBroadcaster };\n",
		"no RTBroadcaster": "class Broadcaster {}\nexport { Broadcaster };\n",
	} {
		if _, err := classicScript([]byte(module)); err == nil {
			t.Errorf("%s: converted, want an error", name)
		}
	}
	if _, err := classicScript([]byte("class RTBroadcaster {}\nexport { RTBroadcaster, };\n")); err != nil {
		t.Errorf("a trailing comma: %v", err)
	}
}
