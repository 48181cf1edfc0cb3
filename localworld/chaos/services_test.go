package chaos

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/pitcher/connector/localworld/loopback"
	"github.com/pitcher/connector/localworld/testworld"
)

// TestServiceRestartKeepsData: Azurite, stopped and started again by
// Service on the same ports with --location while a client holds a
// connection, is listening again, still holds a blob container made before
// the restart, and its log shows both runs. (Azurite prints "is starting"
// before it listens and "successfully listening" just after, so only the
// first is certain to be in the log once its port accepts connections.)
func TestServiceRestartKeepsData(t *testing.T) {
	bin := filepath.Join(testworld.RepoRoot(t), "node_modules", ".bin", "azurite")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("Azurite is not installed (npm ci): %v", err)
	}
	free, err := loopback.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Service{Name: "Azurite", Ports: free, Log: filepath.Join(dir, "azurite.log"),
		Args: []string{bin, "--skipApiVersionCheck", "--disableTelemetry", "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
			"--blobPort", strconv.Itoa(free[0]), "--queuePort", strconv.Itoa(free[1]), "--tablePort", strconv.Itoa(free[2]), "--location", dir}}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	cs := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:%d/devstoreaccount1;", free[0])
	blobs, err := azblob.NewClientFromConnectionString(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blobs.CreateContainer(t.Context(), "kept", nil); err != nil {
		t.Fatal(err)
	}
	// A client's idle keep-alive connection, as the handler holds.
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(free[2]))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := blobs.ServiceClient().NewContainerClient("kept").GetProperties(t.Context(), nil); err != nil {
		t.Errorf("the container made before the restart: %v", err)
	}
	out, err := s.Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "Table service is starting"); n != 2 || s.Runs() != 2 {
		t.Errorf("after a restart: %d runs, the log shows %d starts:\n%s", s.Runs(), n, out)
	}
}
