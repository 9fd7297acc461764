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
	alias   string        // ShortHostName's, fully qualified; set before the server starts
	queried chan struct{} // capacity 1
}

func (z *zone) Records(q dns.Question) []dns.RR {
	s := z.svc.Load()
	if s == nil {
		return nil
	}
	var rrs []dns.RR
	switch {
	case strings.EqualFold(q.Name, s.HostName):
		// hashicorp/mdns matches names case-sensitively: DNS names are
		// case-insensitive.
		rrs = hostRecords(s, q.Qtype, s.HostName)
	case z.alias != "" && strings.EqualFold(q.Name, z.alias):
		rrs = hostRecords(s, q.Qtype, z.alias)
	default:
		rrs = s.Records(q)
	}
	if len(rrs) > 0 && q.Qclass&qclassUnicast == 0 {
		select {
		case z.queried <- struct{}{}:
		default:
		}
	}
	return rrs
}

// hostRecords returns s's address records under name (its host name or
// the alias) for a question of type qtype: A, AAAA, or both for ANY
// (hashicorp/mdns answers only A and AAAA for the host); nothing for other
// types.
func hostRecords(s *mdns.MDNSService, qtype uint16, name string) []dns.RR {
	q := dns.Question{Name: s.HostName, Qtype: qtype, Qclass: dns.ClassINET}
	var rrs []dns.RR
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		rrs = s.Records(q)
	case dns.TypeANY:
		q.Qtype = dns.TypeA
		rrs = s.Records(q)
		q.Qtype = dns.TypeAAAA
		rrs = append(rrs, s.Records(q)...)
	}
	for _, rr := range rrs {
		rr.Header().Name = name // records are made afresh by each call
	}
	return rrs
}

// qclassUnicast is the top bit of a question's class: "QU", the querier
// asks for a unicast answer. In a record's class it is the cache-flush bit.
const qclassUnicast = 1 << 15
