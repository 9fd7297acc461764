// Package pagetest is test support for the page: raw HTTP/1.1 requests
// on a connection the test holds, so a test decides which connection a
// request uses (a keep-alive kept idle, a flood from one address) where
// http.Client would pick or drop one itself; and a phone's browser in Go
// (phone.go): its streams read chunk by chunk, and a receive-only WebRTC
// peer.
package pagetest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Get sends GET path to host on c (keep-alive), with cookie when it is
// not empty, reads the answer through br (c's reader, kept across
// requests) and returns its status, or an error when the connection is
// closed or slower than 5 s.
func Get(c net.Conn, br *bufio.Reader, host, path, cookie string) (int, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n", path, host)
	if cookie != "" {
		req += "Cookie: " + cookie + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}
