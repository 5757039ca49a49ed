// Command vcsim-mk is MigrateKit's test vCenter: govmomi's simulator (VPX model) behind a small
// HTTPS front that adds what the simulator 0.24 lacks for CBT tests:
//
//   - QueryChangedDiskAreas, answered from a JSON file the test writes (VCSIM_CBT_FILE),
//     with startOffset paging and a FileFault for change ids the disk never issued;
//   - per-disk backing changeIds ("52 xx … xx/N") that advance with every snapshot of a VM
//     whose config.changeTrackingEnabled is true, frozen into the snapshot's own config;
//   - session expiry on demand (POST /_test/expire-sessions) or after idle seconds, with the
//     NotAuthenticated fault real vCenter sends, also for PropertyCollector calls (the simulator
//     lets those through without a session);
//   - GET /_test/inventory: the simulator's own view of its VMs (JSON), to cross-check discovery.
//
// Test support only: it never ships. It binds 127.0.0.1 only and prints one JSON line
// {"url":…,"thumbprint":…,"pid":…} on stdout when ready.
//
// Environment:
//
//	VCSIM_PORT                  TCP port on 127.0.0.1 (0 or unset = any free port)
//	VCSIM_USER                  login user name (required)
//	VCSIM_PASSWORD_FILE         file holding the password (required; never argv)
//	VCSIM_CBT_FILE              JSON file with changed areas (optional; read on every call)
//	VCSIM_SESSION_IDLE_SECONDS  expire sessions idle that long (optional)
//	VCSIM_EXIT_ON_STDIN_EOF     "1": stop when stdin closes, so a test host that dies takes it along
//
// CBT file format:
//
//	{"pageSize": 2, "disks": [{"vm": "vm-42", "deviceKey": 2000, "changeId": "*",
//	  "areas": [{"start": 0, "length": 65536}]}]}
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	sessionCookie  = "vmware_soap_session"
	maxRequestBody = 16 << 20
	defaultPage    = 2000 // "maximally 2000 changed blocks" per call on real vCenter
)

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetOutput(os.Stderr)
	if err := run(); err != nil {
		log.Printf("vcsim-mk: %v", err)
		os.Exit(1)
	}
}

func run() error {
	user := os.Getenv("VCSIM_USER")
	if user == "" {
		return fmt.Errorf("VCSIM_USER is not set")
	}
	pwFile := os.Getenv("VCSIM_PASSWORD_FILE")
	if pwFile == "" {
		return fmt.Errorf("VCSIM_PASSWORD_FILE is not set")
	}
	pwBytes, err := os.ReadFile(pwFile)
	if err != nil {
		return fmt.Errorf("reading VCSIM_PASSWORD_FILE: %w", err)
	}
	password := strings.TrimRight(string(pwBytes), "\r\n")
	if password == "" {
		return fmt.Errorf("the password file is empty")
	}
	port := 0
	if p := os.Getenv("VCSIM_PORT"); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 0 || port > 65535 {
			return fmt.Errorf("VCSIM_PORT %q is not a port", p)
		}
	}
	if s := os.Getenv("VCSIM_SESSION_IDLE_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("VCSIM_SESSION_IDLE_SECONDS %q is not a positive number", s)
		}
		simulator.SessionIdleTimeout = time.Duration(n) * time.Second
	}

	model := simulator.VPX()
	model.Portgroup = 2     // DC0_DVPG0 backs every VM's NIC; DC0_DVPG1 is a target to move NICs to
	model.OpaqueNetwork = 1 // an NSX opaque network, DC0_NSX0
	if err := model.Create(); err != nil {
		return fmt.Errorf("creating the model: %w", err)
	}
	defer model.Remove()

	ctx := context.Background()
	if err := addFixtureVMs(ctx, model); err != nil {
		return fmt.Errorf("adding fixture VMs: %w", err)
	}

	cbt := newCbtState()
	simulator.Map.AddHandler(cbt)

	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	addr := listener.Addr().(*net.TCPAddr)
	sdkURL := &url.URL{Scheme: "https", Host: addr.String(), Path: "/sdk"}

	// Login checks the user and password against Listen.User (simulator.SessionManager.validLogin).
	model.Service.Listen = &url.URL{Scheme: "https", Host: addr.String(), User: url.UserPassword(user, password)}
	model.Service.RegisterSDK(simulator.Map)
	simulator.Map.SessionManager().ServiceHostName = addr.String()

	cert, thumbprint, err := selfSignedCert()
	if err != nil {
		return err
	}

	front := &front{inner: model.Service.ServeMux, cbt: cbt, cbtFile: os.Getenv("VCSIM_CBT_FILE"),
		known: map[string]bool{}, revoked: map[string]bool{}}
	server := &http.Server{
		Handler:           front,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:          log.New(io.Discard, "", 0), // clients that refuse our cert are expected in tests
	}

	done := make(chan error, 1)
	go func() { done <- server.ServeTLS(listener, "", "") }()

	ready, _ := json.Marshal(map[string]interface{}{
		"url": sdkURL.String(), "thumbprint": thumbprint, "pid": os.Getpid(),
	})
	fmt.Println(string(ready))

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	if os.Getenv("VCSIM_EXIT_ON_STDIN_EOF") == "1" {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			signals <- syscall.SIGTERM
		}()
	}
	select {
	case <-signals:
	case err := <-done:
		return err
	}
	shutdown, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return server.Shutdown(shutdown)
}

// addFixtureVMs adds VMs the VPX model lacks: several disks of each provisioning type, NICs on a
// standard and a distributed port group, EFI firmware, and one VM too old for CBT (vmx-04).
func addFixtureVMs(ctx context.Context, model *simulator.Model) error {
	c, err := vim25.NewClient(ctx, model.Service) // in-process, with the simulator's internal session
	if err != nil {
		return err
	}
	finder := find.NewFinder(c, false)
	dc, err := finder.Datacenter(ctx, "DC0")
	if err != nil {
		return err
	}
	finder.SetDatacenter(dc)
	host, err := finder.HostSystem(ctx, "DC0_H0")
	if err != nil {
		return err
	}
	pool, err := host.ResourcePool(ctx)
	if err != nil {
		return err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	ds, err := finder.Datastore(ctx, "LocalDS_0")
	if err != nil {
		return err
	}
	dvpg, err := finder.Network(ctx, "DC0_DVPG0")
	if err != nil {
		return err
	}
	std, err := finder.Network(ctx, "VM Network")
	if err != nil {
		return err
	}
	dvBacking, err := dvpg.EthernetCardBackingInfo(ctx)
	if err != nil {
		return err
	}
	stdBacking, err := std.EthernetCardBackingInfo(ctx)
	if err != nil {
		return err
	}

	create := func(spec types.VirtualMachineConfigSpec, devices object.VirtualDeviceList, powerOn bool) error {
		spec.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
		if err != nil {
			return err
		}
		task, err := folders.VmFolder.CreateVM(ctx, spec, pool, host)
		if err != nil {
			return err
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return err
		}
		if !powerOn {
			return nil
		}
		vm := object.NewVirtualMachine(c, info.Result.(types.ManagedObjectReference))
		task, err = vm.PowerOn(ctx)
		if err != nil {
			return err
		}
		return task.Wait(ctx)
	}

	// mk-multi-disk: 3 disks (thin, lazy-zeroed thick, eager-zeroed thick), 2 NICs.
	{
		name := "mk-multi-disk"
		var devices object.VirtualDeviceList
		scsi, err := devices.CreateSCSIController("pvscsi")
		if err != nil {
			return err
		}
		devices = append(devices, scsi)
		sizes := []int64{10 << 20, 4 << 20, 2 << 20} // KB: 10 GiB, 4 GiB, 2 GiB
		for i, kb := range sizes {
			disk := devices.CreateDisk(scsi.(types.BaseVirtualController), ds.Reference(),
				fmt.Sprintf("[LocalDS_0] %s/disk%d.vmdk", name, i+1))
			disk.CapacityInKB = kb
			b := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			switch i {
			case 1:
				b.ThinProvisioned = types.NewBool(false)
				b.EagerlyScrub = types.NewBool(false)
			case 2:
				b.ThinProvisioned = types.NewBool(false)
				b.EagerlyScrub = types.NewBool(true)
			}
			devices = append(devices, disk)
		}
		nic1, err := devices.CreateEthernetCard("vmxnet3", dvBacking)
		if err != nil {
			return err
		}
		devices = append(devices, nic1)
		nic2, err := devices.CreateEthernetCard("e1000", stdBacking)
		if err != nil {
			return err
		}
		devices = append(devices, nic2)
		spec := types.VirtualMachineConfigSpec{
			Name: name, GuestId: string(types.VirtualMachineGuestOsIdentifierUbuntu64Guest),
			NumCPUs: 2, MemoryMB: 2048, Firmware: string(types.GuestOsDescriptorFirmwareTypeEfi),
			Files: &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
		}
		if err := create(spec, devices, true); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}

	// mk-lab: the lab's VM (scripts/lab): 2 thin disks, a NIC on a distributed port group and one
	// on a standard network, powered on.
	{
		name := "mk-lab"
		var devices object.VirtualDeviceList
		scsi, err := devices.CreateSCSIController("pvscsi")
		if err != nil {
			return err
		}
		devices = append(devices, scsi)
		for i, kb := range []int64{1 << 20, 512 << 10} { // KB: 1 GiB, 512 MiB
			disk := devices.CreateDisk(scsi.(types.BaseVirtualController), ds.Reference(),
				fmt.Sprintf("[LocalDS_0] %s/disk%d.vmdk", name, i+1))
			disk.CapacityInKB = kb
			devices = append(devices, disk)
		}
		nic1, err := devices.CreateEthernetCard("vmxnet3", dvBacking)
		if err != nil {
			return err
		}
		nic2, err := devices.CreateEthernetCard("vmxnet3", stdBacking)
		if err != nil {
			return err
		}
		devices = append(devices, nic1, nic2)
		spec := types.VirtualMachineConfigSpec{
			Name: name, GuestId: string(types.VirtualMachineGuestOsIdentifierDebian11_64Guest),
			NumCPUs: 2, MemoryMB: 1024, Files: &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
		}
		if err := create(spec, devices, true); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}

	// mk-legacy-hw4: hardware version 4, which cannot have CBT.
	{
		name := "mk-legacy-hw4"
		var devices object.VirtualDeviceList
		scsi, err := devices.CreateSCSIController("lsilogic")
		if err != nil {
			return err
		}
		devices = append(devices, scsi)
		disk := devices.CreateDisk(scsi.(types.BaseVirtualController), ds.Reference(),
			fmt.Sprintf("[LocalDS_0] %s/disk1.vmdk", name))
		disk.CapacityInKB = 1024
		devices = append(devices, disk)
		spec := types.VirtualMachineConfigSpec{
			Name: name, GuestId: string(types.VirtualMachineGuestOsIdentifierOtherGuest), Version: "vmx-04",
			Files: &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
		}
		if err := create(spec, devices, false); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// Change ids

type diskKey struct {
	vm  string
	key int32
}

type diskIds struct {
	uuid   string
	seq    int
	issued map[string]bool
}

// cbtState issues per-disk change ids. It is a simulator.RegisterObject so that it sees every
// new VirtualMachineSnapshot the moment CreateSnapshot_Task registers it (under the VM's lock).
type cbtState struct {
	self  types.ManagedObjectReference
	mu    sync.Mutex
	disks map[diskKey]*diskIds
}

func newCbtState() *cbtState {
	return &cbtState{
		self:  types.ManagedObjectReference{Type: "MigrateKitCbt", Value: "mk-cbt-1"},
		disks: map[diskKey]*diskIds{},
	}
}

func (s *cbtState) Reference() types.ManagedObjectReference           { return s.self }
func (s *cbtState) UpdateObject(mo.Reference, []types.PropertyChange) {}
func (s *cbtState) RemoveObject(types.ManagedObjectReference)         {}

func (s *cbtState) PutObject(item mo.Reference) {
	snap, ok := item.(*simulator.VirtualMachineSnapshot)
	if !ok {
		return
	}
	vm, ok := simulator.Map.Get(snap.Vm).(*simulator.VirtualMachine)
	if !ok || vm.Config == nil || vm.Config.ChangeTrackingEnabled == nil || !*vm.Config.ChangeTrackingEnabled {
		return
	}
	// The snapshot's config is a shallow copy of the VM's: give it its own disk devices so that the
	// change ids it records stay frozen while the VM's move on.
	devices := make([]types.BaseVirtualDevice, len(snap.Config.Hardware.Device))
	copy(devices, snap.Config.Hardware.Device)
	for i, d := range devices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		backing, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok {
			continue
		}
		id := s.next(diskKey{vm.Self.Value, disk.Key})
		backing.ChangeId = id // the VM's own disk: its current change id
		diskCopy := *disk
		backingCopy := *backing
		diskCopy.Backing = &backingCopy
		devices[i] = &diskCopy
	}
	snap.Config.Hardware.Device = devices
}

func (s *cbtState) next(k diskKey) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.disks[k]
	if d == nil {
		sum := sha1.Sum([]byte(fmt.Sprintf("%s/%d", k.vm, k.key)))
		parts := make([]string, 16)
		for i := range parts {
			parts[i] = fmt.Sprintf("%02x", sum[i])
		}
		parts[0] = "52"
		d = &diskIds{uuid: strings.Join(parts[:8], " ") + "-" + strings.Join(parts[8:], " "), issued: map[string]bool{}}
		s.disks[k] = d
	}
	d.seq++
	id := fmt.Sprintf("%s/%d", d.uuid, d.seq)
	d.issued[id] = true
	return id
}

func (s *cbtState) wasIssued(k diskKey, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.disks[k]
	return d != nil && d.issued[id]
}

// ---------------------------------------------------------------------------------------------
// HTTPS front

type front struct {
	inner   http.Handler
	cbt     *cbtState
	cbtFile string

	mu      sync.Mutex
	known   map[string]bool
	revoked map[string]bool
}

// Methods that work without a session on real vCenter.
var sessionless = map[string]bool{"RetrieveServiceContent": true, "Login": true}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_test/expire-sessions" {
		f.expireAll(w, r)
		return
	}
	if r.URL.Path == "/_test/inventory" {
		inventory(w)
		return
	}
	if r.URL.Path != "/sdk" || r.Method != http.MethodPost {
		f.inner.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	_ = r.Body.Close()
	if err != nil || len(body) > maxRequestBody {
		http.Error(w, "request body too large or unreadable", http.StatusBadRequest)
		return
	}
	method := soapMethod(body)
	key := ""
	if c, err := r.Cookie(sessionCookie); err == nil {
		key = c.Value
	}
	if !sessionless[method] && !f.sessionValid(r, key) {
		writeFault(w, "The session is not authenticated.", "NotAuthenticated",
			"<object type=\"SessionManager\">SessionManager</object><privilegeId>System.View</privilegeId>")
		return
	}
	if method == "QueryChangedDiskAreas" {
		f.queryChangedDiskAreas(w, body)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	f.inner.ServeHTTP(w, r)
	for _, c := range (&http.Response{Header: w.Header()}).Cookies() {
		if c.Name == sessionCookie {
			f.mu.Lock()
			f.known[c.Value] = true
			f.mu.Unlock()
		}
	}
}

func (f *front) expireAll(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	f.mu.Lock()
	n := 0
	for k := range f.known {
		if !f.revoked[k] {
			f.revoked[k] = true
			n++
		}
	}
	f.mu.Unlock()
	log.Printf("expired %d session(s) on request", n)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"expired\":%d}\n", n)
}

type inventoryVM struct {
	Moref            string   `json:"moref"`
	Name             string   `json:"name"`
	PowerState       string   `json:"powerState"`
	ChangeTrackingOn bool     `json:"changeTrackingEnabled"`
	DiskKeys         []int32  `json:"diskKeys"`
	NicKeys          []int32  `json:"nicKeys"`
	Snapshots        []string `json:"snapshots"`
}

// inventory is the simulator's own view of its VMs (read from its registry, not through SOAP),
// for tests to cross-check what the client discovers.
func inventory(w http.ResponseWriter) {
	var out []inventoryVM
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm, ok := e.(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		simulator.Map.WithLock(vm, func() {
			v := inventoryVM{Moref: vm.Self.Value, Name: vm.Name, PowerState: string(vm.Runtime.PowerState),
				DiskKeys: []int32{}, NicKeys: []int32{}, Snapshots: []string{}}
			if vm.Config != nil {
				v.ChangeTrackingOn = vm.Config.ChangeTrackingEnabled != nil && *vm.Config.ChangeTrackingEnabled
				for _, d := range vm.Config.Hardware.Device {
					switch d.(type) {
					case *types.VirtualDisk:
						v.DiskKeys = append(v.DiskKeys, d.GetVirtualDevice().Key)
					case types.BaseVirtualEthernetCard:
						v.NicKeys = append(v.NicKeys, d.GetVirtualDevice().Key)
					}
				}
			}
			if vm.Snapshot != nil {
				var walk func([]types.VirtualMachineSnapshotTree)
				walk = func(trees []types.VirtualMachineSnapshotTree) {
					for _, t := range trees {
						v.Snapshots = append(v.Snapshots, t.Snapshot.Value)
						walk(t.ChildSnapshotList)
					}
				}
				walk(vm.Snapshot.RootSnapshotList)
			}
			out = append(out, v)
		})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// sessionValid asks the simulator itself (in process) whether the cookie names a live session.
func (f *front) sessionValid(r *http.Request, key string) bool {
	if key == "" {
		return false
	}
	f.mu.Lock()
	revoked := f.revoked[key]
	f.mu.Unlock()
	if revoked {
		return false
	}
	probe := httptest.NewRequest(http.MethodPost, "/sdk", strings.NewReader(
		`<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">`+
			`<soapenv:Body><CurrentTime xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></CurrentTime>`+
			`</soapenv:Body></soapenv:Envelope>`))
	probe.RemoteAddr = r.RemoteAddr
	probe.AddCookie(&http.Cookie{Name: sessionCookie, Value: key})
	rec := httptest.NewRecorder()
	f.inner.ServeHTTP(rec, probe)
	return rec.Code == http.StatusOK
}

// soapMethod returns the local name of the first element inside soap Body.
func soapMethod(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			if inBody {
				return se.Name.Local
			}
			inBody = se.Name.Local == "Body"
		}
	}
}

type qcdaRequest struct {
	This        string `xml:"Body>QueryChangedDiskAreas>_this"`
	Snapshot    string `xml:"Body>QueryChangedDiskAreas>snapshot"`
	DeviceKey   string `xml:"Body>QueryChangedDiskAreas>deviceKey"`
	StartOffset string `xml:"Body>QueryChangedDiskAreas>startOffset"`
	ChangeID    string `xml:"Body>QueryChangedDiskAreas>changeId"`
}

type area struct {
	Start  int64 `json:"start"`
	Length int64 `json:"length"`
}

type cbtFile struct {
	PageSize int `json:"pageSize"`
	Disks    []struct {
		VM        string `json:"vm"`
		DeviceKey int32  `json:"deviceKey"`
		ChangeID  string `json:"changeId"`
		Areas     []area `json:"areas"`
	} `json:"disks"`
}

func invalidArgument(w http.ResponseWriter, property string) {
	writeFault(w, "A specified parameter was not correct: "+property, "InvalidArgument",
		"<invalidProperty>"+xmlEscape(property)+"</invalidProperty>")
}

func (f *front) queryChangedDiskAreas(w http.ResponseWriter, body []byte) {
	var req qcdaRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		writeFault(w, "malformed request: "+err.Error(), "InvalidRequest", "")
		return
	}
	deviceKey, err := strconv.ParseInt(strings.TrimSpace(req.DeviceKey), 10, 32)
	if err != nil {
		invalidArgument(w, "deviceKey")
		return
	}
	startOffset, err := strconv.ParseInt(strings.TrimSpace(req.StartOffset), 10, 64)
	if err != nil || startOffset < 0 {
		invalidArgument(w, "startOffset")
		return
	}
	changeID := strings.TrimSpace(req.ChangeID)
	vmRef := types.ManagedObjectReference{Type: "VirtualMachine", Value: strings.TrimSpace(req.This)}
	vm, ok := simulator.Map.Get(vmRef).(*simulator.VirtualMachine)
	if !ok {
		writeFault(w, "The object has already been deleted or has not been completely created", "ManagedObjectNotFound",
			"<obj type=\"VirtualMachine\">"+xmlEscape(vmRef.Value)+"</obj>")
		return
	}

	var devices []types.BaseVirtualDevice
	var cbtOn, poweredOff bool
	simulator.Map.WithLock(vm, func() {
		cbtOn = vm.Config.ChangeTrackingEnabled != nil && *vm.Config.ChangeTrackingEnabled
		poweredOff = vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOff
		devices = vm.Config.Hardware.Device
	})
	if req.Snapshot != "" {
		snapRef := types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: strings.TrimSpace(req.Snapshot)}
		snap, ok := simulator.Map.Get(snapRef).(*simulator.VirtualMachineSnapshot)
		if !ok || snap.Vm != vmRef {
			invalidArgument(w, "snapshot")
			return
		}
		devices = snap.Config.Hardware.Device
	} else if !poweredOff {
		writeFault(w, "The attempted operation cannot be performed in the current state (Powered on).",
			"InvalidPowerState", "<existingState>poweredOn</existingState>")
		return
	}
	if !cbtOn {
		writeFault(w, "Change tracking is not enabled for this virtual machine.", "FileFault",
			"<file>"+xmlEscape(vm.Config.Files.VmPathName)+"</file>")
		return
	}
	var disk *types.VirtualDisk
	for _, d := range devices {
		if vd, ok := d.(*types.VirtualDisk); ok && vd.Key == int32(deviceKey) {
			disk = vd
		}
	}
	if disk == nil {
		invalidArgument(w, "deviceKey")
		return
	}
	capacity := disk.CapacityInBytes
	if capacity == 0 {
		capacity = disk.CapacityInKB * 1024
	}
	if startOffset >= capacity {
		invalidArgument(w, "startOffset")
		return
	}

	file := cbtFile{}
	if f.cbtFile != "" {
		raw, err := os.ReadFile(f.cbtFile)
		if err != nil && !os.IsNotExist(err) {
			writeFault(w, "simulator cannot read its CBT file: "+err.Error(), "SystemError", "<reason>cbt file</reason>")
			return
		}
		if err == nil {
			if err := json.Unmarshal(raw, &file); err != nil {
				writeFault(w, "simulator CBT file is not valid JSON: "+err.Error(), "SystemError", "<reason>cbt file</reason>")
				return
			}
		}
	}
	pageSize := file.PageSize
	if pageSize <= 0 {
		pageSize = defaultPage
	}
	var areas []area
	found := false
	for _, d := range file.Disks {
		if d.VM == vmRef.Value && d.DeviceKey == int32(deviceKey) && d.ChangeID == changeID {
			areas, found = append([]area(nil), d.Areas...), true
			break
		}
	}
	if !found {
		switch {
		case changeID == "*":
			// Non-VMFS storage answers "*" with one extent covering the whole disk (VDDK guide).
			areas = []area{{0, capacity}}
		case f.cbt.wasIssued(diskKey{vmRef.Value, int32(deviceKey)}, changeID):
			areas = nil // a change id this disk issued, with nothing written since
		default:
			writeFault(w, "Error caused by file "+disk.Backing.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo().FileName,
				"FileFault", "<file>"+xmlEscape(disk.Backing.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo().FileName)+"</file>")
			return
		}
	}
	sort.Slice(areas, func(i, j int) bool { return areas[i].Start < areas[j].Start })

	var page []area
	more := false
	for _, a := range areas {
		end := a.Start + a.Length
		if end > capacity {
			end = capacity
		}
		if end <= startOffset || a.Length <= 0 {
			continue
		}
		if len(page) == pageSize {
			more = true
			break
		}
		s := a.Start
		if s < startOffset {
			s = startOffset
		}
		page = append(page, area{s, end - s})
	}
	length := capacity - startOffset
	if more {
		last := page[len(page)-1]
		length = last.Start + last.Length - startOffset
	}

	var out strings.Builder
	fmt.Fprintf(&out, "<QueryChangedDiskAreasResponse xmlns=\"urn:vim25\"><returnval><startOffset>%d</startOffset><length>%d</length>",
		startOffset, length)
	for _, a := range page {
		fmt.Fprintf(&out, "<changedArea><start>%d</start><length>%d</length></changedArea>", a.Start, a.Length)
	}
	out.WriteString("</returnval></QueryChangedDiskAreasResponse>")
	writeEnvelope(w, http.StatusOK, out.String())
}

func writeFault(w http.ResponseWriter, message, faultType, detail string) {
	writeEnvelope(w, http.StatusInternalServerError, fmt.Sprintf(
		"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail>"+
			"<%sFault xmlns=\"urn:vim25\" xsi:type=\"%s\">%s</%sFault></detail></soapenv:Fault>",
		xmlEscape(message), faultType, faultType, detail, faultType))
}

func writeEnvelope(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, xml.Header)
	fmt.Fprintf(w, "<soapenv:Envelope xmlns:soapenc=\"http://schemas.xmlsoap.org/soap/encoding/\" "+
		"xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "+
		"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>", body)
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// selfSignedCert makes a fresh P-256 certificate for 127.0.0.1 and returns its SHA1 thumbprint in
// the xx:xx:… form vSphere tools use.
func selfSignedCert() (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "vcsim-mk"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	sum := sha1.Sum(der)
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02X", b)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, strings.Join(hex, ":"), nil
}
