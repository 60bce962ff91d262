package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrder(t *testing.T) {
	start := time.Unix(1000, 0)
	f := NewFake(start)
	a := f.NewTimer(3 * time.Second)
	b := f.NewTimer(1 * time.Second)
	c := f.NewTimer(10 * time.Second)
	f.Advance(5 * time.Second)
	if got := <-b.C(); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("b fired at %v", got)
	}
	if got := <-a.C(); !got.Equal(start.Add(3 * time.Second)) {
		t.Fatalf("a fired at %v", got)
	}
	select {
	case <-c.C():
		t.Fatal("c fired early")
	default:
	}
	if !f.Now().Equal(start.Add(5 * time.Second)) {
		t.Fatalf("now = %v", f.Now())
	}
	if !c.Stop() || c.Stop() {
		t.Fatal("Stop should report active once")
	}
	f.Advance(time.Hour)
	select {
	case <-c.C():
		t.Fatal("stopped timer fired")
	default:
	}
}

func TestFakeResetAndBlockUntil(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	done := make(chan struct{})
	go func() {
		tm := f.NewTimer(time.Second)
		<-tm.C()
		tm.Reset(time.Second)
		<-tm.C()
		close(done)
	}()
	f.BlockUntil(1)
	f.Advance(time.Second)
	f.BlockUntil(1)
	f.Advance(time.Second)
	<-done
}

func TestRealTimer(t *testing.T) {
	tm := Real().NewTimer(time.Millisecond)
	<-tm.C()
	if tm.Stop() {
		t.Fatal("fired timer reported active")
	}
}
