package rtbroadcaster_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	rtb "github.com/rtbroadcaster/rtbroadcaster"
)

// TestAPIOpenAPIDocument: the document served at /api/openapi.json is
// OpenAPI 3 and describes exactly the handler's routes: every route is
// documented with its methods, every documented operation is served by the
// real handler (not 404 or 405), and every other method of a documented
// path is refused with 405.
func TestAPIOpenAPIDocument(t *testing.T) {
	srv := apiEngines["memory"](t)
	resp := apiCall(t, srv, "GET", "/api/openapi.json", "", "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	resp.decode(t, &doc)
	if resp.status != 200 || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("GET /api/openapi.json: %d, openapi %q", resp.status, doc.OpenAPI)
	}
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	var documented []string
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(methods, key) {
				documented = append(documented, strings.ToUpper(key)+" "+path)
			} else if key != "parameters" && key != "summary" && key != "description" {
				t.Errorf("path %s has %q, neither a method nor a path item field", path, key)
			}
		}
	}
	routes := rtb.APIRoutes()
	slices.Sort(documented)
	slices.Sort(routes)
	if !slices.Equal(documented, routes) {
		t.Fatalf("documented operations\n%q\ndiffer from the handler's routes\n%q", documented, routes)
	}

	room, _ := apiCreate(t, srv)
	for path, item := range doc.Paths {
		real := strings.ReplaceAll(path, "{uuid}", room)
		for _, method := range methods {
			_, isDocumented := item[method]
			got := apiCall(t, srv, strings.ToUpper(method), real, apiKey, `{"funcKey": "probe"}`)
			switch {
			case isDocumented && (got.status == 404 && !strings.Contains(string(got.body), "room_not_found") || got.status == 405):
				t.Errorf("%s %s is documented but the handler answers %d %s", method, path, got.status, got.body)
			case !isDocumented && method != "head" && got.status != 405:
				// HEAD is served wherever GET is.
				t.Errorf("%s %s is not documented but the handler answers %d %s", method, path, got.status, got.body)
			}
		}
	}
	if got := apiCall(t, srv, "GET", "/api/rooms/"+uuid.NewString()+"/nothing", apiKey, ""); got.status != 404 {
		t.Errorf("an undocumented path: %d", got.status)
	}
}
