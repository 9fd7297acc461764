package transport

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// TestFrameVectors runs docs/conformance/frames.json, the vectors published
// for other implementations, through this package's reader: readFrame and
// the inbound verdicts, as a monitor's connection applies them.
func TestFrameVectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "conformance", "frames.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Vectors []struct {
			Name, State string
			Steps       []struct {
				Hex         string
				EndOfStream bool `json:"end_of_stream"`
				Expect      struct {
					Outcome   string
					Type      control.Type
					Error     string
					Ref       control.Type
					CloseCode *uint64 `json:"close_code"`
					Message   json.RawMessage
				}
			}
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range doc.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			in := newInbound(true, DefaultMaxUnknown)
			trusted := v.State == "trusted"
			if v.State != "new" {
				if a := in.frame([]byte(enc(t, testHello("vector"))), trusted); a.verdict != hello {
					t.Fatalf("set-up hello: verdict %v", a.verdict)
				}
			}
			for i, st := range v.Steps {
				raw, err := hex.DecodeString(st.Hex)
				if err != nil {
					t.Fatal(err)
				}
				var a action
				r := io.Reader(bytes.NewReader(raw))
				p, err := readFrame(r, in.maxFrame(trusted))
				switch {
				case err == nil:
					a = in.frame(p, trusted)
				case errors.Is(err, io.EOF) && st.EndOfStream:
					a = in.endOfStream()
				default:
					var ce *control.Error
					if !errors.As(err, &ce) {
						t.Fatalf("step %d: %v", i, err)
					}
					a = violation(ce.Code, "", "%v", err)
				}
				e := st.Expect
				switch e.Outcome {
				case "hello":
					if a.verdict != hello {
						t.Errorf("step %d: verdict %v, want hello", i, a.verdict)
					}
				case "deliver":
					if a.verdict != deliver || a.msg.MessageType() != e.Type {
						t.Errorf("step %d: verdict %v %v, want deliver %s", i, a.verdict, a.msg, e.Type)
					}
				case "heartbeat":
					if a.verdict != pong {
						t.Errorf("step %d: verdict %v, want pong", i, a.verdict)
					}
				case "answer":
					if a.verdict != reply {
						t.Fatalf("step %d: verdict %v, want reply", i, a.verdict)
					}
					var want bytes.Buffer
					if err := json.Compact(&want, e.Message); err != nil {
						t.Fatal(err)
					}
					if got := enc(t, a.msg); got != want.String() {
						t.Errorf("step %d: answered %s, want %s", i, got, want.String())
					}
				case "close":
					if a.verdict != violate || a.code.String() != e.Error || a.code.QUIC() != *e.CloseCode || a.ref != e.Ref {
						t.Errorf("step %d: verdict %v code %v ref %q, want close %s (%d) ref %q", i, a.verdict, a.code, a.ref, e.Error, *e.CloseCode, e.Ref)
					}
				case "peer_closed":
					if a.verdict != bye || control.ParseCode(a.msg.(control.Bye).Code).QUIC() != *e.CloseCode {
						t.Errorf("step %d: verdict %v %v, want the peer's close %d", i, a.verdict, a.msg, *e.CloseCode)
					}
				default:
					t.Fatalf("step %d: unknown outcome %q", i, e.Outcome)
				}
			}
		})
	}
}
