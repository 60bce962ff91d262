package pg_test

import (
	"fmt"
	"log"

	"github.com/pgha/pgha/pg"
)

func ExampleSlotName() {
	fmt.Println(pg.SlotName("Node-1.dc-east"))
	fmt.Println(pg.SlotName("db@primary"))
	// Output:
	// node_1_dc_east
	// dbu0064primary
}

func ExampleParseLSN() {
	lsn, err := pg.ParseLSN("0/3000060")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(lsn, lsn.Int64())
	// Output: 0/3000060 50331744
}
