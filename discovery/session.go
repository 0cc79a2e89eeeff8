package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
)

// Session is the part of a Milvus session (sessionutil.SessionRaw, the JSON
// value of <root>/meta/session/proxy-<ServerID>) that discovery reads.
// Milvus 2.3.5 writes, for its proxy:
//
//	{"ServerID":1,"ServerName":"proxy","Address":"192.0.2.2:19529","TriggerKill":true,
//	 "Version":"2.3.5","IndexEngineVersion":{},"LeaseID":8552232549398972806,"HostName":"vm"}
//
// under a lease of the session TTL (common.session.ttl), kept alive while the
// proxy runs and revoked when it stops; a proxy that stops gracefully first
// rewrites it with "Stopping":true.
type Session struct {
	ServerID   int64  `json:"ServerID"`
	ServerName string `json:"ServerName"`
	// Address is the proxy's internal gRPC address (host:proxy.internalPort),
	// not its client port.
	Address  string `json:"Address"`
	Stopping bool   `json:"Stopping,omitempty"`
	Version  string `json:"Version,omitempty"`
	HostName string `json:"HostName,omitempty"`
}

// parseSession decodes a session value; a session without an address is an error.
func parseSession(value []byte) (Session, error) {
	var s Session
	if err := json.Unmarshal(value, &s); err != nil {
		return Session{}, fmt.Errorf("not a Milvus session: %w", err)
	}
	if s.Address == "" {
		return Session{}, errors.New("the session has no Address")
	}
	return s, nil
}

// clientAddress is where clients call the proxy of s: the session's host with
// port, or the session's address as it is when port is 0.
func clientAddress(s Session, port int) (string, error) {
	host, p, err := net.SplitHostPort(s.Address)
	if err != nil || host == "" {
		return "", fmt.Errorf("address %q is not host:port", s.Address)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("address %q has no valid port", s.Address)
	}
	if port == 0 {
		return net.JoinHostPort(host, p), nil
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// endpointsOf returns the sorted, distinct client addresses of the sessions
// that are not stopping (a stopping proxy takes no new calls).
func endpointsOf(sessions map[string]Session, port int) []string {
	var out []string
	for _, s := range sessions {
		if s.Stopping {
			continue
		}
		if a, err := clientAddress(s, port); err == nil {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
