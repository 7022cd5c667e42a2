package protocol_test

import (
	"fmt"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// A server decodes a request, even the original README's commented
// example, answers with the request's id, and frames the room's messages
// with their seq once for all viewers.
func Example() {
	req, err := protocol.DecodeMessage([]byte(`{
		"status": {"value": 1}, // create a room
		"id": "c1"
	}`))
	if err != nil || req.Status.Value != protocol.StatusNew {
		panic(err)
	}
	reply := &protocol.Message{UUID: "room-1", Status: protocol.Status{Value: protocol.StatusConnected, Text: protocol.TextConnected}, ID: req.ID}
	fmt.Println(string(reply.Encode()))

	action := &protocol.Message{UUID: "room-1", Status: reply.Status, FuncKey: "goToSlide", FuncParams: []string{"4"}}
	frame := protocol.AppendSeq(action.Encode(), 12)
	fmt.Printf("header % x\n%s\n", frame[:4], frame[4:]) // final text frame, 126: a 16-bit length (128)

	// Output:
	// {"uuid":"room-1","status":{"value":3,"text":"connected"},"funcKey":"","funcParams":[],"stateMessage":false,"id":"c1"}
	// header 81 7e 00 80
	// {"uuid":"room-1","status":{"value":3,"text":"connected"},"funcKey":"goToSlide","funcParams":["4"],"stateMessage":false,"seq":12}
}
