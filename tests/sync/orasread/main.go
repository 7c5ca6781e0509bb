// Command orasread reads an OCI image layout with the ORAS Go library: it resolves a
// reference through the layout's index.json as oras does, fetches the manifest and every
// blob it reaches, checks each against its descriptor and prints one line per blob.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/containerd/containerd/images"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/pkg/content"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: orasread LAYOUT REFERENCE")
		os.Exit(2)
	}
	if err := read(context.Background(), os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "orasread:", err)
		os.Exit(1)
	}
}

func read(ctx context.Context, layout, reference string) error {
	store, err := content.NewOCI(layout)
	if err != nil {
		return err
	}
	_, root, err := store.Resolve(ctx, reference)
	if err != nil {
		return err
	}
	verify := images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		reader, err := store.Fetch(ctx, desc)
		if err != nil {
			return nil, err
		}
		defer reader.Close()
		data, err := io.ReadAll(reader)
		if err != nil {
			return nil, err
		}
		if int64(len(data)) != desc.Size || digest.FromBytes(data) != desc.Digest {
			return nil, fmt.Errorf("%s: content does not match its descriptor", desc.Digest)
		}
		fmt.Printf("%s %s %d\n", desc.MediaType, desc.Digest, desc.Size)
		return nil, nil
	})
	return images.Walk(ctx, images.Handlers(verify, images.ChildrenHandler(store)), root)
}
