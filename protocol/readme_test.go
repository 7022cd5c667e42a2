package protocol_test

// Request examples of the README of the original rtbroadcaster (pablanka,
// 2016), as printed there, comments and all: DecodeMessage must take them.
const (
	readmeCreate = `{
	"uuid": "",
	"status": {
		"value": 1, // Connection status: 0 = not connected, 1 = new, 2 = join, 3 = connected, 4 = close
		"text": "new connection"
	},
	"funcKey": "",
	"funcParams": [],
	"stateMessage": false
}`
	readmeBroadcast = `{
	"uuid": "63ca67e-69bb-4a16-a71f-86a87acbe0b5",
	"status": {
		"value": 3, // Connection status: 0 = not connected, 1 = new, 2 = join, 3 = connected, 4 = closed
		"text": "connected"
	},
	"funcKey": "myKey",
	"funcParams": ["param1", "param2", "param3"],
	"stateMessage": false
}`
	readmeClose = `{
	"uuid": "63ca67e-69bb-4a16-a71f-86a87acbe0b5",
	"status": {
		"value": 4, // Connection status: 0 = not connected, 1 = new, 2 = join, 3 = connected, 4 = close
		"text": "close connection"
	},
	"funcKey": "",
	"funcParams": [],
	"stateMessage": false
}`
)
