package catalog_test

import (
	"errors"
	"fmt"

	"github.com/onec-connect/connect-bridge/internal/catalog"
)

// ExampleOperation_Fields shows a command checked and converted, and a bad
// one reported in full.
func ExampleOperation_Fields() {
	op, _ := catalog.Lookup("CompetenceAdd")
	props, err := op.Fields(map[string]any{
		"SpecialistID": "0a29b1a9-26ef-11e8-80e6-0025904f970f",
		"ServiceID":    "9254945c-8135-11e9-80f6-0025904f970f",
		"Priority":     float64(1), // as decoded from JSON
	})
	if err != nil {
		panic(err)
	}
	for _, p := range props {
		fmt.Println(p.Name, p.Value.Kind, p.Value.Text)
	}

	_, err = op.Fields(map[string]any{"SpecialistID": "42", "Priority": "high"})
	var fe catalog.FieldErrors
	if errors.As(err, &fe) {
		fmt.Println(len(fe), "problems:", err)
	}
	// Output:
	// SpecialistID xs:string 0a29b1a9-26ef-11e8-80e6-0025904f970f
	// ServiceID xs:string 9254945c-8135-11e9-80f6-0025904f970f
	// Priority xs:decimal 1
	// 3 problems: catalog: CompetenceAdd: Priority: want xs:decimal, got a string of 4 characters; ServiceID: required; SpecialistID: not a UUID
}
