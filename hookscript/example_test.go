package hookscript_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/hookscript"
)

// A pre_promote script that exits non-zero vetoes the promotion; its
// output's tail is the reason the Controller logs.
func Example() {
	prePromote, err := hookscript.Split(`sh -c 'echo "fencing device unreachable"; exit 1'`)
	if err != nil {
		fmt.Println(err)
		return
	}
	hooks, err := hookscript.New(hookscript.Config{
		PrePromote: prePromote,
		Timeout:    10 * time.Second,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), hooks.Timeout)
	defer cancel()
	// Hooks go into failover.ControllerOptions.Hooks; here the veto is
	// called directly.
	err = hooks.PrePromote(ctx, failover.HookInfo{Scope: "batman", Member: "node2"})
	fmt.Println(err)
	// Output:
	// pre_promote "sh -c echo \"fencing device unreachable\"; exit 1": exit status 1: fencing device unreachable
}
