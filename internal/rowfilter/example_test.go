package rowfilter_test

import (
	"fmt"

	"github.com/pitcher/connector/internal/rowfilter"
)

func Example() {
	f, err := rowfilter.Parse("StateCode eq 0 and (_ownerid_value eq @me or _ownerid_value in @myteams)")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f, f.Columns(), f.Params())

	row := []byte(`{"accountid":"5a2b8a1e-0000-4000-8000-000000000001","name":"O'Brien","statecode":0,"_ownerid_value":"A1B2C3D4-0000-4000-8000-00000000000A"}`)
	keep, err := f.Match(row, rowfilter.Params{Me: "c0000000-0000-4000-8000-00000000000c", MyTeams: []string{"a1b2c3d4-0000-4000-8000-00000000000a"}})
	fmt.Println(keep, err)

	_, err = rowfilter.Parse("(statecode eq ) or name eq 'x'")
	fmt.Println(err)
	// Output:
	// statecode eq 0 and (_ownerid_value eq @me or _ownerid_value in @myteams) [_ownerid_value statecode] [@me @myteams]
	// true <nil>
	// position 15: expected a value after "eq", found ")"
}
