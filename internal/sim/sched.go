package sim

import (
	"container/heap"
	"errors"
	"iter"
	"time"
)

// event is one scheduled piece of work.
type event struct {
	at  time.Time
	seq uint64
	fn  func()
}

// eventQueue orders events by time, then by scheduling order.
type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// at schedules fn at virtual time t (never in the past).
func (s *Sim) at(t time.Time, fn func()) {
	if t.Before(s.now) {
		t = s.now
	}
	s.seq++
	heap.Push(&s.q, &event{at: t, seq: s.seq, fn: fn})
}

// after schedules fn d from now.
func (s *Sim) after(d time.Duration, fn func()) { s.at(s.now.Add(d), fn) }

// errKilled unwinds a coroutine whose agent crashed.
var errKilled = errors.New("sim: process killed")

// waitReq is what a coroutine asks for when it yields: resume after d;
// interruptible waits may be cut short by a watch notification (kick).
type waitReq struct {
	d             time.Duration
	interruptible bool
}

// proc is one coroutine of an agent (its keepalive loop or its HA loop).
// It runs only inside Sim.resume, so the simulation stays single-threaded.
type proc struct {
	s     *Sim
	a     *agent
	next  func() (waitReq, bool)
	stop  func()
	yield func(waitReq) bool

	token         uint64 // invalidates scheduled resumptions
	interruptible bool
	wakeAt        time.Time
	dead          bool
}

// spawn starts body as a coroutine of a, resumed at once.
func (s *Sim) spawn(a *agent, body func(p *proc)) *proc {
	p := &proc{s: s, a: a}
	seq := func(yield func(waitReq) bool) {
		defer func() {
			if r := recover(); r != nil && r != errKilled { //nolint:errorlint // sentinel identity
				panic(r)
			}
		}()
		p.yield = yield
		body(p)
	}
	p.next, p.stop = iter.Pull(iter.Seq[waitReq](seq))
	p.scheduleAt(s.now)
	return p
}

// wait gives control back for d of virtual time.
func (p *proc) wait(d time.Duration, interruptible bool) {
	if !p.yield(waitReq{d: max(d, 0), interruptible: interruptible}) {
		panic(errKilled)
	}
}

// scheduleAt arranges for p to resume at t, superseding earlier plans.
func (p *proc) scheduleAt(t time.Time) {
	p.token++
	tok := p.token
	p.wakeAt = t
	p.s.at(t, func() {
		if p.dead || p.token != tok {
			return
		}
		if p.a.frozen {
			p.a.postponed = append(p.a.postponed, p)
			return
		}
		p.resume()
	})
}

// resume runs p until it waits again or ends.
func (p *proc) resume() {
	r, ok := p.next()
	if !ok {
		p.dead = true
		return
	}
	p.interruptible = r.interruptible
	p.scheduleAt(p.s.now.Add(r.d))
}

// kick cuts an interruptible wait short (a watch event arriving after lat).
func (p *proc) kick(lat time.Duration) {
	if p == nil || p.dead || !p.interruptible {
		return
	}
	if t := p.s.now.Add(lat); t.Before(p.wakeAt) {
		p.scheduleAt(t)
	}
}

// kill ends the coroutine (agent crash).
func (p *proc) kill() {
	if p == nil || p.dead {
		return
	}
	p.dead = true
	p.stop()
}
