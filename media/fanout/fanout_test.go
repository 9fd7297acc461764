package fanout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// item is a test item: kind "m" (media) may be dropped, others may not.
type item struct {
	kind string
	n    int
}

func (i item) String() string { return fmt.Sprintf("%s%d", i.kind, i.n) }

func droppable(i item) bool { return i.kind == "m" }

func drain(t *testing.T, s *Subscription[item]) []string {
	t.Helper()
	var got []string
	for s.Len() > 0 {
		v, err := s.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v.String())
	}
	return got
}

// TestOverflowRule runs op/want scripts: each op publishes items to a
// subscriber with a queue of 3 that does not read; want is the queue
// afterwards and the drop count.
func TestOverflowRule(t *testing.T) {
	m := func(n int) item { return item{"m", n} }
	p := func(n int) item { return item{"p", n} }
	a := func(n int) item { return item{"a", n} }
	for _, tc := range []struct {
		name    string
		publish []item
		want    []string
		dropped uint64
	}{
		{"room: nothing lost", []item{m(1), p(1), m(2)}, []string{"m1", "p1", "m2"}, 0},
		{"full of media: the oldest goes", []item{m(1), m(2), m(3), m(4), m(5)}, []string{"m3", "m4", "m5"}, 2},
		{"presence at the head stays, the oldest media goes", []item{p(1), m(1), m(2), m(3)}, []string{"p1", "m2", "m3"}, 1},
		{"an alarm pushes out media, not presence", []item{p(1), m(1), m(2), a(1)}, []string{"p1", "m2", "a1"}, 1},
		{"media never pushes out control", []item{p(1), a(1), m(1), m(2), m(3)}, []string{"p1", "a1", "m3"}, 2},
		{"only control left: the oldest control goes", []item{p(1), a(1), p(2), a(2)}, []string{"a1", "p2", "a2"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New(droppable)
			s := f.Subscribe(3)
			defer s.Close()
			for _, v := range tc.publish {
				f.Publish(v)
			}
			if got := drain(t, s); !slices.Equal(got, tc.want) {
				t.Errorf("queue %v, want %v", got, tc.want)
			}
			if s.Dropped() != tc.dropped {
				t.Errorf("dropped %d, want %d", s.Dropped(), tc.dropped)
			}
		})
	}
}

// TestNeverDroppedUnderLoad: a slow reader among thousands of media items
// still receives every control item, in order.
func TestNeverDroppedUnderLoad(t *testing.T) {
	f := New(droppable)
	slow := f.Subscribe(8)
	fast := f.Subscribe(8)
	defer slow.Close()
	var wg sync.WaitGroup
	var fastGot int
	wg.Go(func() {
		for {
			if _, err := fast.Next(context.Background()); err != nil {
				return
			}
			fastGot++
		}
	})
	var controls []string
	for i := range 5000 {
		f.Publish(item{"m", i})
		if i%1000 == 0 {
			f.Publish(item{"p", i})
		}
		if i%7 == 0 && slow.Len() > 6 { // read now and then, too slowly
			v, _ := slow.Next(context.Background())
			if v.kind != "m" {
				controls = append(controls, v.String())
			}
		}
	}
	for _, v := range drain(t, slow) {
		if v[0] != 'm' {
			controls = append(controls, v)
		}
	}
	if want := []string{"p0", "p1000", "p2000", "p3000", "p4000"}; !slices.Equal(controls, want) {
		t.Errorf("control items %v, want %v", controls, want)
	}
	if slow.Dropped() == 0 {
		t.Error("slow reader lost nothing")
	}
	f.Close(nil)
	wg.Wait()
	if fastGot+int(fast.Dropped()) != 5005 {
		t.Errorf("fast reader: %d received + %d dropped, want 5005", fastGot, fast.Dropped())
	}
}

// TestClose: after the Fanout's Close, a subscriber reads what is queued,
// then ErrClosed, and Err gives the cause; later subscriptions start ended.
func TestClose(t *testing.T) {
	cause := errors.New("session ended")
	f := New[int](nil)
	s := f.Subscribe(4)
	f.Publish(1)
	f.Publish(2)
	f.Close(cause)
	f.Close(errors.New("second cause ignored"))
	f.Publish(3) // nobody hears it
	for _, want := range []int{1, 2} {
		if v, err := s.Next(context.Background()); err != nil || v != want {
			t.Fatalf("Next = %d, %v; want %d", v, err, want)
		}
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after close: %v, want ErrClosed", err)
	}
	if !errors.Is(s.Err(), cause) {
		t.Fatalf("Err %v, want the cause", s.Err())
	}
	late := f.Subscribe(4)
	if _, err := late.Next(context.Background()); !errors.Is(err, ErrClosed) || !errors.Is(late.Err(), cause) {
		t.Fatalf("late subscriber: %v / %v", err, late.Err())
	}
	s.Close()
	s.Close()
	if f.Len() != 0 {
		t.Fatalf("%d subscribers after close", f.Len())
	}
}

// TestSubscriptionClose: one subscriber's Close stops its deliveries and
// leaves the others; Err stays nil.
func TestSubscriptionClose(t *testing.T) {
	f := New[int](nil)
	a, b := f.Subscribe(4), f.Subscribe(4)
	defer b.Close()
	a.Close()
	f.Publish(1)
	if _, err := a.Next(context.Background()); !errors.Is(err, ErrClosed) || a.Err() != nil {
		t.Fatalf("closed subscriber: %v, Err %v", err, a.Err())
	}
	if v, _ := b.Next(context.Background()); v != 1 || f.Len() != 1 {
		t.Fatalf("other subscriber got %d, %d subscribers", v, f.Len())
	}
}

// TestNextWaits: Next waits for an item and gives up with its context.
func TestNextWaits(t *testing.T) {
	f := New[int](nil)
	s := f.Subscribe(1, 7)
	defer s.Close()
	if v, _ := s.Next(context.Background()); v != 7 {
		t.Fatalf("first item %d, want 7 (given to Subscribe)", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an empty queue: %v", err)
	}
	got := make(chan int)
	go func() {
		v, _ := s.Next(context.Background())
		got <- v
	}()
	f.Publish(9)
	if v := <-got; v != 9 {
		t.Fatalf("waiting Next got %d", v)
	}
}

// TestChannel: C delivers in order and closes after the queue drains once
// the Fanout closes; it is refused for a Fanout with never-dropped items.
func TestChannel(t *testing.T) {
	f := New[int](nil)
	s := f.Subscribe(16)
	for i := range 20 {
		f.Publish(i)
	}
	f.Close(nil)
	var got []int
	for v := range s.C() {
		got = append(got, v)
	}
	if len(got) != 16 || got[0] != 4 || got[15] != 19 || s.Dropped() != 4 {
		t.Fatalf("C delivered %v, dropped %d", got, s.Dropped())
	}
	s.Close()

	defer func() {
		if recover() == nil {
			t.Error("C on a Fanout with never-dropped items did not panic")
		}
	}()
	g := New(droppable)
	u := g.Subscribe(1)
	defer u.Close()
	u.C()
}

// TestClear drops the queue and counts it.
func TestClear(t *testing.T) {
	f := New[int](nil)
	s := f.Subscribe(4)
	defer s.Close()
	f.Publish(1)
	f.Publish(2)
	s.Clear()
	f.Publish(3)
	if v, _ := s.Next(context.Background()); v != 3 || s.Dropped() != 2 {
		t.Fatalf("after Clear: %d, dropped %d", v, s.Dropped())
	}
}

// TestRace publishes, subscribes, reads and closes from many goroutines.
func TestRace(t *testing.T) {
	f := New(droppable)
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for range 50 {
				s := f.Subscribe(r + 1)
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				_, _ = s.Next(ctx)
				cancel()
				if r%2 == 0 {
					s.Clear()
				}
				_ = s.Dropped()
				s.Close()
			}
		})
	}
	for i := range 2000 {
		f.Publish(item{"m", i})
	}
	wg.Wait()
	f.Close(nil)
}

// TestSubscribeFunc: a filtered subscriber gets only what it accepts; its
// first items are given whatever the filter says.
func TestSubscribeFunc(t *testing.T) {
	f := New[int](nil)
	even := f.SubscribeFunc(8, func(v int) bool { return v%2 == 0 }, 1)
	defer even.Close()
	for i := range 6 {
		f.Publish(i)
	}
	var got []int
	for even.Len() > 0 {
		v, _ := even.Next(context.Background())
		got = append(got, v)
	}
	if !slices.Equal(got, []int{1, 0, 2, 4}) {
		t.Fatalf("filtered subscriber got %v", got)
	}
}
