package protocol

// SubProtocol is the WebSocket subprotocol the server speaks. A client that
// sends its token in the Sec-WebSocket-Protocol header offers it beside
// TokenProtocolPrefix+token; the server answers with SubProtocol, never
// echoing the token, as browsers require one offered protocol back.
const SubProtocol = "rtbroadcaster"

// TokenProtocolPrefix marks the subprotocol that carries a token:
// "rtb-token.<jwt>". A JWT's characters are all allowed in a subprotocol.
const TokenProtocolPrefix = "rtb-token."
