package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/haproxycfg"
)

// errConfig marks configuration errors (exit status 2).
var errConfig = errors.New("configuration error")

// duration is a YAML duration: a Go duration string ("3s", "500ms") or a
// number of seconds.
type duration struct{ time.Duration }

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration (\"3s\") or seconds expected", n.Line)
	}
	if secs, err := strconv.ParseFloat(n.Value, 64); err == nil {
		if secs < 0 || secs > 86400*365 {
			return fmt.Errorf("line %d: duration %s out of range", n.Line, strconv.Quote(n.Value))
		}
		d.Duration = time.Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %s is not a duration (\"3s\") or seconds", n.Line, quote(n.Value))
	}
	d.Duration = v
	return nil
}

// haproxySection is the haproxy: section of the agent's YAML.
type haproxySection struct {
	// Bin is the haproxy binary (default: haproxy on PATH).
	Bin string `yaml:"bin"`
	// Config is the haproxy.cfg pgha-proxy renders. Required.
	Config string `yaml:"config"`
	// Socket is the admin runtime API socket. Required.
	Socket string `yaml:"socket"`
	// ServerStateFile keeps server states across reloads (recommended).
	ServerStateFile string `yaml:"server_state_file"`
	// PIDFile receives the master's pid when pgha-proxy manages HAProxy.
	PIDFile string `yaml:"pid_file"`
	// Manage: true (default) starts HAProxy as a child; false adopts one
	// that runs already (systemd) and reloads it with ReloadCommand.
	Manage *bool `yaml:"manage"`
	// ReloadCommand reloads an adopted HAProxy (no shell).
	ReloadCommand []string `yaml:"reload_command"`
	// RuntimeRouting (default true) pushes DCS leader changes through the
	// runtime API.
	RuntimeRouting *bool `yaml:"runtime_routing"`

	BindAddress string `yaml:"bind_address"`
	Ports       struct {
		Primary  *int `yaml:"primary"`
		Replicas *int `yaml:"replicas"`
		Sync     *int `yaml:"sync"`
		Stats    *int `yaml:"stats"`
	} `yaml:"ports"`
	MaxReplicaLag          int64 `yaml:"max_replica_lag"`
	ReplicasIncludePrimary bool  `yaml:"replicas_include_primary"`
	Check                  struct {
		Method             string   `yaml:"method"`
		Inter              duration `yaml:"inter"`
		FastInter          duration `yaml:"fastinter"`
		DownInter          duration `yaml:"downinter"`
		Rise               int      `yaml:"rise"`
		Fall               int      `yaml:"fall"`
		Timeout            duration `yaml:"timeout"`
		TLS                bool     `yaml:"tls"`
		CAFile             string   `yaml:"ca_file"`
		InsecureSkipVerify bool     `yaml:"insecure_skip_verify"`
	} `yaml:"check"`
	MaxConn       int `yaml:"maxconn"`
	ServerMaxConn int `yaml:"server_maxconn"`
	Timeouts      struct {
		Connect duration `yaml:"connect"`
		Client  duration `yaml:"client"`
		Server  duration `yaml:"server"`
	} `yaml:"timeouts"`
	HardStopAfter duration `yaml:"hard_stop_after"`

	Keepalived *keepalivedSection `yaml:"keepalived"`
}

// keepalivedSection is haproxy.keepalived: the VRRP instance of this proxy
// host.
type keepalivedSection struct {
	// Manage runs keepalived as a child of pgha-proxy (default false: only
	// write Config for the system's keepalived).
	Manage bool   `yaml:"manage"`
	Bin    string `yaml:"bin"`
	// Config is the keepalived.conf to write. Required.
	Config string `yaml:"config"`
	// RunDir holds the managed keepalived's pid files (default: Config's
	// directory).
	RunDir string `yaml:"run_dir"`
	// Wrapper runs the managed keepalived under a command that execs it in
	// place, for example [ip, netns, exec, NAME].
	Wrapper []string `yaml:"wrapper"`

	Interface       string   `yaml:"interface"`
	VirtualRouterID int      `yaml:"virtual_router_id"`
	Priority        int      `yaml:"priority"`
	State           string   `yaml:"state"`
	AdvertInt       duration `yaml:"advert_int"`
	NoPreempt       bool     `yaml:"nopreempt"`
	AuthPass        string   `yaml:"auth_pass"`
	VirtualIPs      []string `yaml:"virtual_ips"`
	UnicastSrcIP    string   `yaml:"unicast_src_ip"`
	UnicastPeers    []string `yaml:"unicast_peers"`
	// CheckScript defaults to "<pgha-proxy> check-haproxy -socket <socket>
	// -connect <address of the read-write port>".
	CheckScript   string   `yaml:"check_script"`
	CheckInterval duration `yaml:"check_interval"`
	CheckTimeout  duration `yaml:"check_timeout"`
	CheckWeight   int      `yaml:"check_weight"`
	CheckFall     int      `yaml:"check_fall"`
	CheckRise     int      `yaml:"check_rise"`
	ScriptUser    string   `yaml:"script_user"`
	NotifyMaster  string   `yaml:"notify_master"`
	NotifyBackup  string   `yaml:"notify_backup"`
	NotifyFault   string   `yaml:"notify_fault"`
	NotifyStop    string   `yaml:"notify_stop"`
	Notify        string   `yaml:"notify"`
}

// proxyConfig is everything pgha-proxy reads.
type proxyConfig struct {
	agent    *agentconfig.Config
	warnings []agentconfig.Warning

	render  haproxycfg.Options
	process haproxycfg.ProcessConfig
	manage  bool
	reload  []string
	routing bool

	keepalived       *haproxycfg.KeepalivedOptions
	keepalivedManage bool
	keepalivedBin    string
	keepalivedConfig string
	keepalivedRunDir string
	keepalivedWrap   []string
}

// defaultCheckWeight is pgha-proxy's Keepalived check weight: larger than
// any sensible priority difference between the two proxy hosts.
const defaultCheckWeight = 50

// loadConfig reads the agent's YAML (scope, namespace, DCS) and its
// haproxy: section. self is the pgha-proxy executable for the default
// Keepalived check.
func loadConfig(path string, env []string, self string) (*proxyConfig, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no configuration file (-c)", errConfig)
	}
	cfg, warnings, err := agentconfig.Load(path, env)
	if err == nil {
		err = cfg.ValidateClient()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	pc := &proxyConfig{agent: cfg}
	for _, w := range warnings {
		if w.Path != "haproxy" && !strings.HasPrefix(w.Path, "haproxy.") {
			pc.warnings = append(pc.warnings, w)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	sec, err := decodeSection(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	if err := pc.apply(sec, self); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	return pc, nil
}

// decodeSection finds haproxy: in the document and decodes it strictly:
// unknown keys are errors with their line.
func decodeSection(data []byte) (sec haproxySection, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("YAML decoder failed: %v", r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return sec, err
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	var node *yaml.Node
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "haproxy" {
				node = root.Content[i+1]
			}
		}
	}
	if node == nil || node.Kind != yaml.MappingNode {
		return sec, errors.New("no haproxy: section (a mapping) in the configuration")
	}
	if err := unknownKeys(node, reflect.TypeOf(sec), "haproxy"); err != nil {
		return sec, err
	}
	if err := node.Decode(&sec); err != nil {
		return sec, fmt.Errorf("haproxy: %w", err)
	}
	return sec, nil
}

// unknownKeys reports the first key of a mapping that t does not have.
func unknownKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct || t == reflect.TypeOf(duration{}) {
		return nil
	}
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			fields[tag] = f.Type
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ft, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("line %d: unknown key %s.%s", k.Line, path, quote(k.Value))
		}
		if err := unknownKeys(n.Content[i+1], ft, path+"."+k.Value); err != nil {
			return err
		}
	}
	return nil
}

// apply turns the section into library options and validates them.
func (pc *proxyConfig) apply(s haproxySection, self string) error {
	if s.Config == "" {
		return errors.New("haproxy.config: required (the haproxy.cfg pgha-proxy writes)")
	}
	if s.Socket == "" {
		return errors.New("haproxy.socket: required (the runtime API socket)")
	}
	o := haproxycfg.DefaultOptions()
	o.BindAddress = s.BindAddress
	port := func(p *int, def int) int {
		if p == nil {
			return def
		}
		return *p
	}
	o.ReadWritePort = port(s.Ports.Primary, haproxycfg.DefaultReadWritePort)
	o.ReadOnlyPort = port(s.Ports.Replicas, haproxycfg.DefaultReadOnlyPort)
	o.SyncPort = port(s.Ports.Sync, 0)
	o.StatsPort = port(s.Ports.Stats, haproxycfg.DefaultStatsPort)
	o.MaxReplicaLagBytes = s.MaxReplicaLag
	o.ReadOnlyIncludePrimary = s.ReplicasIncludePrimary
	o.CheckMethod = strings.ToUpper(s.Check.Method)
	if o.CheckMethod == "" {
		o.CheckMethod = "GET"
	}
	set := func(dst *time.Duration, d duration) {
		if d.Duration != 0 {
			*dst = d.Duration
		}
	}
	set(&o.CheckInterval, s.Check.Inter)
	set(&o.FastInterval, s.Check.FastInter)
	set(&o.DownInterval, s.Check.DownInter)
	set(&o.CheckTimeout, s.Check.Timeout)
	set(&o.ConnectTimeout, s.Timeouts.Connect)
	set(&o.ClientTimeout, s.Timeouts.Client)
	set(&o.ServerTimeout, s.Timeouts.Server)
	o.HardStopAfter = s.HardStopAfter.Duration
	if s.Check.Rise != 0 {
		o.Rise = s.Check.Rise
	}
	if s.Check.Fall != 0 {
		o.Fall = s.Check.Fall
	}
	o.CheckTLS, o.CheckCAFile, o.CheckInsecureSkipVerify = s.Check.TLS, s.Check.CAFile, s.Check.InsecureSkipVerify
	if s.MaxConn != 0 {
		o.MaxConn = s.MaxConn
	}
	o.ServerMaxConn = s.ServerMaxConn
	o.StatsSocket = s.Socket
	o.ServerStateFile = s.ServerStateFile
	pc.routing = s.RuntimeRouting == nil || *s.RuntimeRouting
	o.RuntimeRouting = pc.routing
	if err := o.Validate(); err != nil {
		return err
	}
	pc.render = o
	pc.manage = s.Manage == nil || *s.Manage
	pc.reload = s.ReloadCommand
	if !pc.manage && len(pc.reload) == 0 {
		return errors.New("haproxy.reload_command: required with manage: false (for example [systemctl, reload, haproxy])")
	}
	if pc.manage && len(pc.reload) > 0 {
		return errors.New("haproxy.reload_command: only used with manage: false")
	}
	for i, a := range pc.reload {
		if a == "" || strings.ContainsAny(a, "\x00\n") {
			return fmt.Errorf("haproxy.reload_command[%d]: %s not allowed", i, quote(a))
		}
	}
	pc.process = haproxycfg.ProcessConfig{Bin: s.Bin, ConfigPath: s.Config, StatsSocket: s.Socket,
		ServerStateFile: s.ServerStateFile, PIDFile: s.PIDFile}
	if s.Keepalived != nil {
		if err := pc.applyKeepalived(s.Keepalived, o, self); err != nil {
			return err
		}
	}
	return nil
}

func (pc *proxyConfig) applyKeepalived(k *keepalivedSection, o haproxycfg.Options, self string) error {
	if k.Config == "" {
		return errors.New("haproxy.keepalived.config: required (the keepalived.conf pgha-proxy writes)")
	}
	check := k.CheckScript
	if check == "" {
		if o.ReadWritePort == 0 {
			return errors.New("haproxy.keepalived.check_script: required without a read-write port")
		}
		host := o.BindAddress
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		check = self + " check-haproxy -socket " + o.StatsSocket + " -connect " + host + ":" + strconv.Itoa(o.ReadWritePort)
	}
	weight := k.CheckWeight
	if weight == 0 {
		weight = defaultCheckWeight
	}
	ko := haproxycfg.KeepalivedOptions{
		Interface: k.Interface, VirtualRouterID: k.VirtualRouterID, Priority: k.Priority, State: k.State,
		AdvertInterval: k.AdvertInt.Duration, NoPreempt: k.NoPreempt, AuthPass: k.AuthPass,
		VirtualIPs: k.VirtualIPs, UnicastSrcIP: k.UnicastSrcIP, UnicastPeers: k.UnicastPeers,
		CheckScript: check, CheckInterval: k.CheckInterval.Duration, CheckTimeout: k.CheckTimeout.Duration, CheckWeight: weight,
		CheckFall: k.CheckFall, CheckRise: k.CheckRise, ScriptUser: k.ScriptUser,
		NotifyMaster: k.NotifyMaster, NotifyBackup: k.NotifyBackup, NotifyFault: k.NotifyFault,
		NotifyStop: k.NotifyStop, Notify: k.Notify,
	}
	if _, err := haproxycfg.RenderKeepalived(ko); err != nil {
		return fmt.Errorf("haproxy.keepalived: %w", err)
	}
	pc.keepalived = &ko
	pc.keepalivedManage = k.Manage
	pc.keepalivedBin = k.Bin
	pc.keepalivedConfig = k.Config
	pc.keepalivedRunDir = k.RunDir
	for i, a := range k.Wrapper {
		if a == "" || strings.ContainsAny(a, "\x00\n") {
			return fmt.Errorf("haproxy.keepalived.wrapper[%d]: %s not allowed", i, quote(a))
		}
	}
	if len(k.Wrapper) > 0 && !k.Manage {
		return errors.New("haproxy.keepalived.wrapper: only used with manage: true")
	}
	pc.keepalivedWrap = k.Wrapper
	if pc.keepalivedRunDir == "" {
		pc.keepalivedRunDir = dirOf(k.Config)
	}
	return nil
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "/"
}

// quote quotes a value for an error message, truncated.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}
