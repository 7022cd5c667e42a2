package rtbroadcaster

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rtbroadcaster/rtbroadcaster/auth"
)

// AdminHandler serves the admin API that the dashboard at /admin uses. Mount
// it at /admin/api/. Every request needs "Authorization: Bearer <token>"
// with the token given to WithAdminToken; without one, the API is off and
// answers 404.
//
//	GET  /admin/api/rooms              this node's rooms and counters (AdminSnapshot)
//	POST /admin/api/rooms/{id}/close   closes a room on every node
func (m *Manager) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/api/rooms", m.adminRooms)
	mux.HandleFunc("POST /admin/api/rooms/{id}/close", m.adminCloseRoom)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if m.adminToken == "" {
			writeJSONError(w, http.StatusNotFound, "the admin API is off: start the server with an admin token (-admin-token)")
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !auth.EqualSecret(token, m.adminToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rtbroadcaster admin"`)
			writeJSONError(w, http.StatusUnauthorized, "send the admin token as Authorization: Bearer <token>")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// AdminSnapshot is what the admin API reports about a node.
type AdminSnapshot struct {
	Time             time.Time   `json:"time"`
	Connections      int         `json:"connections"`
	Viewers          int64       `json:"viewers"`
	MessagesReceived uint64      `json:"messagesReceived"`
	MessagesSent     uint64      `json:"messagesSent"`
	SlowConsumers    uint64      `json:"slowConsumers"`
	BrokerUp         bool        `json:"brokerUp"`
	Rooms            []AdminRoom `json:"rooms"`
}

// AdminRoom is one room with a client on this node.
type AdminRoom struct {
	ID       string    `json:"id"`
	OpenedAt time.Time `json:"openedAt"`
	// Viewers is the room's count across all nodes, as the engine last
	// reported it, or this node's count before it did.
	Viewers      int64 `json:"viewers"`
	LocalViewers int64 `json:"localViewers"`
	// Messages counts the room's messages this node has received since it
	// first had a client in the room; the dashboard derives rates from it.
	Messages  uint64 `json:"messages"`
	OwnerHere bool   `json:"ownerHere"`
}

// AdminSnapshot returns the node's counters and rooms, busiest first.
func (m *Manager) AdminSnapshot() AdminSnapshot {
	stats := m.Stats()
	snap := AdminSnapshot{
		Time:             time.Now(),
		Connections:      stats.Connections,
		Viewers:          m.metrics.viewersTotal.Load(),
		MessagesReceived: m.metrics.messagesTotal.Load(),
		MessagesSent:     m.metrics.messagesOutTotal.Load(),
		SlowConsumers:    stats.SlowConsumers,
		BrokerUp:         m.brokerReady() == nil,
		Rooms:            []AdminRoom{},
	}
	for _, mr := range m.meteredRooms() {
		owner, _ := mr.members()
		viewers := mr.totalViewers.Load()
		if viewers < 0 {
			viewers = mr.localViewers.Load()
		}
		snap.Rooms = append(snap.Rooms, AdminRoom{
			ID: mr.id, OpenedAt: mr.openedAt, Viewers: viewers, LocalViewers: mr.localViewers.Load(),
			Messages: mr.messages.Load(), OwnerHere: owner != nil,
		})
	}
	slices.SortFunc(snap.Rooms, func(a, b AdminRoom) int {
		if a.Viewers != b.Viewers {
			return int(b.Viewers - a.Viewers)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return snap
}

func (m *Manager) meteredRooms() []*meteredRoom {
	m.mu.Lock()
	defer m.mu.Unlock()
	rooms := make([]*meteredRoom, 0, len(m.rooms))
	for _, r := range m.rooms {
		if mr := m.metered[r]; mr != nil && !r.closed.Load() {
			rooms = append(rooms, mr)
		}
	}
	return rooms
}

func (m *Manager) adminRooms(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, m.AdminSnapshot())
}

// adminCloseRoom closes a room through the engine, so that it closes on
// every node: viewers get status 0 and close 1000, the owner status 0.
func (m *Manager) adminCloseRoom(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		writeJSONError(w, http.StatusBadRequest, "not a room id: "+id)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerTimeout)
	defer cancel()
	if err := m.broker.CloseRoom(ctx, id); err != nil {
		writeJSONError(w, http.StatusBadGateway, "closing room "+id+": the room engine failed: "+err.Error())
		return
	}
	m.log.Info("room closed by an operator", "room", id, "remote", clientAddr(r, m.trustedProxies))
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}
