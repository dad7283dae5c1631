package vpnapitest

import (
	"strings"
	"time"
)

// ShiftClock moves the cloud's clock by d from now on (it adds to earlier shifts): the
// creation and update times of users it makes, as a cloud whose clock is off, or a user
// made that much later, would show them. Signatures are checked against the shifted
// clock, as the cloud would: beyond 15 minutes every request is refused.
func (s *Server) ShiftClock(d time.Duration) {
	s.clockOffset.Add(int64(d))
}

// DeleteServerOutOfBand removes a VPN server and its users, as someone in the console
// would; every call on it then answers 404. False if there is no such server.
func (s *Server) DeleteServerOutOfBand(projectID, serverID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[projectID]
	if p == nil || p.servers[strings.ToLower(serverID)] == nil {
		return false
	}
	delete(p.servers, strings.ToLower(serverID))
	return true
}
