package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	goruntime "runtime"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/controller"
)

// CacheFloor is the memory the operator's caches cannot do without: one user's cached
// objects (its VpnUser, and its password Secret's metadata) as the informers hold them,
// times N. Each object is decoded from the JSON the API server sends, trimmed by
// controller.TrimForCache as the operator's cache does, and added to a store indexed by
// namespace (client-go's, as an informer's); the Go heap that takes is measured in the
// harness's own process, over storeSample objects. Not counted: the three field indexes
// on VpnUsers, the operator's own per-user state (schedule slot, settled time), and the
// work queue.
type CacheFloor struct {
	VpnUserJSONBytes        int     `json:"vpnUserJsonBytes"`        // as the API server sends it
	VpnUserTrimmedJSONBytes int     `json:"vpnUserTrimmedJsonBytes"` // after TrimForCache
	VpnUserGoBytes          float64 `json:"vpnUserGoBytes"`          // in the store, per object
	SecretMetaGoBytes       float64 `json:"secretMetadataGoBytes"`   // in the store, per object
	FloorMiB                float64 `json:"floorMiB"`                // N × both
}

// storeSample is how many copies of an object are stored to measure one; the median of
// storeTries measurements counts (the harness's other goroutines allocate meanwhile).
const (
	storeSample = 4000
	storeTries  = 3
)

// cacheFloor measures the cached size of user-00000's VpnUser and Secret metadata.
func cacheFloor(ctx context.Context, c client.Client, n int) (*CacheFloor, error) {
	key := client.ObjectKey{Namespace: namespace, Name: "user-00000"}
	vu := &vpnv1alpha1.VpnUser{}
	if err := c.Get(ctx, key, vu); err != nil {
		return nil, err
	}
	vu.APIVersion, vu.Kind = vpnv1alpha1.GroupVersion.String(), "VpnUser"
	rawUser, err := json.Marshal(vu)
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, key, secret); err != nil {
		return nil, err
	}
	rawMeta, err := json.Marshal(&metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: secret.ObjectMeta})
	if err != nil {
		return nil, err
	}
	f := &CacheFloor{VpnUserJSONBytes: len(rawUser)}
	trimmed, err := decodeTrimmed(rawUser, &vpnv1alpha1.VpnUser{}, "user-00000")
	if err != nil {
		return nil, err
	}
	if b, err := json.Marshal(trimmed); err == nil {
		f.VpnUserTrimmedJSONBytes = len(b)
	}
	if f.VpnUserGoBytes, err = storedSize(func(i int) (any, error) {
		return decodeTrimmed(rawUser, &vpnv1alpha1.VpnUser{}, fmt.Sprintf("user-%05d", i))
	}); err != nil {
		return nil, err
	}
	if f.SecretMetaGoBytes, err = storedSize(func(i int) (any, error) {
		return decodeTrimmed(rawMeta, &metav1.PartialObjectMetadata{}, fmt.Sprintf("user-%05d", i))
	}); err != nil {
		return nil, err
	}
	f.FloorMiB = float64(n) * (f.VpnUserGoBytes + f.SecretMetaGoBytes) / (1 << 20)
	return f, nil
}

// decodeTrimmed decodes raw into obj as an informer does, names it name, and trims it as
// the operator's cache does.
func decodeTrimmed(raw []byte, obj metav1.Object, name string) (any, error) {
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, err
	}
	obj.SetName(name)
	return controller.TrimForCache(obj)
}

// storedSize is the Go heap that one object made by newObject takes in an indexed store
// (the median of storeTries measurements of storeSample objects).
func storedSize(newObject func(i int) (any, error)) (float64, error) {
	var sizes []float64
	for range storeTries {
		store := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		var before, after goruntime.MemStats
		goruntime.GC()
		goruntime.ReadMemStats(&before)
		for i := range storeSample {
			obj, err := newObject(i)
			if err != nil {
				return 0, err
			}
			if err := store.Add(obj); err != nil {
				return 0, err
			}
		}
		goruntime.GC()
		goruntime.ReadMemStats(&after)
		goruntime.KeepAlive(store)
		sizes = append(sizes, (float64(after.HeapAlloc)-float64(before.HeapAlloc))/storeSample)
	}
	slices.Sort(sizes)
	return sizes[len(sizes)/2], nil
}

// printWhereMemoryGoes prints, at the largest N, the operator's memory beside the floor
// of its cached objects, and the top of its heap profile.
func printWhereMemoryGoes(w io.Writer, opts options, results []*Result) {
	r := results[0]
	for _, x := range results {
		if x.N > r.N {
			r = x
		}
	}
	_, _ = fmt.Fprintf(w, "\nWhere the memory goes at N=%d: RSS %.0f MiB, Go heap in use %.0f MiB.\n", r.N, r.RSSMiB, r.HeapInuseMiB)
	if f := r.Cache; f != nil {
		_, _ = fmt.Fprintf(w, "Cached objects (decoded, trimmed, in a namespace-indexed store; measured in the harness): "+
			"VpnUser %.0f B (JSON %d B from the API server, %d B trimmed) + Secret metadata %.0f B = %.2f KiB per user; "+
			"× %d = %.1f MiB, the floor of the caches.\n",
			f.VpnUserGoBytes, f.VpnUserJSONBytes, f.VpnUserTrimmedJSONBytes, f.SecretMetaGoBytes,
			(f.VpnUserGoBytes+f.SecretMetaGoBytes)/1024, r.N, f.FloorMiB)
	}
	if opts.heapTop <= 0 || r.HeapProfile == "" {
		return
	}
	args := []string{"tool", "pprof", "-top", "-sample_index=inuse_space", fmt.Sprintf("-nodecount=%d", opts.heapTop), r.HeapProfile}
	_, _ = fmt.Fprintf(w, "Top heap consumers (go %s):\n", strings.Join(args, " "))
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		_, _ = fmt.Fprintf(w, "bench: go tool pprof: %v\n", err)
	}
	_, _ = w.Write(out)
}
