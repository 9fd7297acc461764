package discovery

import (
	"strings"
	"sync/atomic"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
)

// zone serves the current service; the run goroutine swaps it when the
// TXT record or the addresses change, without restarting the server. It
// also tells the run goroutine when a question that asked for a multicast
// answer (no QU bit) matched: hashicorp/mdns answers it by unicast only.
type zone struct {
	svc     atomic.Pointer[mdns.MDNSService]
	queried chan struct{} // capacity 1
}

func (z *zone) Records(q dns.Question) []dns.RR {
	s := z.svc.Load()
	if s == nil {
		return nil
	}
	var rrs []dns.RR
	if strings.EqualFold(q.Name, s.HostName) {
		// hashicorp/mdns matches names case-sensitively and answers only
		// A and AAAA for the host: DNS names are case-insensitive, and
		// ANY asks for both.
		q.Name = s.HostName
		if q.Qtype == dns.TypeANY {
			q.Qtype = dns.TypeA
			rrs = s.Records(q)
			q.Qtype = dns.TypeAAAA
		}
	}
	rrs = append(rrs, s.Records(q)...)
	if len(rrs) > 0 && q.Qclass&qclassUnicast == 0 {
		select {
		case z.queried <- struct{}{}:
		default:
		}
	}
	return rrs
}

// qclassUnicast is the top bit of a question's class: "QU", the querier
// asks for a unicast answer. In a record's class it is the cache-flush bit.
const qclassUnicast = 1 << 15
