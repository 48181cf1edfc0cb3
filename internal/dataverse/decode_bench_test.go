package dataverse

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecodePage measures the client's share of a read: parsing a page
// of 5,000 rows and finding each primary key.
func BenchmarkDecodePage(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"@odata.context":"https://h/api/data/v9.2/$metadata#accounts(name,accountnumber)","value":[`)
	for i := range 5000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"@odata.etag":"W/\"%d\"","name":"Account %05d","accountnumber":"ACC-%06d","telephone1":"+1 555 %04d","emailaddress1":"account%d@example.com","address1_city":"Seattle","revenue":%d.5,"modifiedon":"2026-01-05T09:00:00Z","accountid":"5a2b8a1e-0000-4000-8000-%012d"}`, i, i, i, i, i, i, i)
	}
	sb.WriteString(`],"@odata.nextLink":"https://h/api/data/v9.2/accounts?$skiptoken=x"}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	b.ReportAllocs()
	for range b.N {
		if _, err := decodePage(body, "accountid"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*5000)/b.Elapsed().Seconds(), "rows/s")
}
