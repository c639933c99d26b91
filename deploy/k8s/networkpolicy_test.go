package k8s_test

import (
	"net/netip"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// pod is one end of a connection, as a NetworkPolicy sees it.
type pod struct {
	namespace string
	nsLabels  labels.Set
	labels    labels.Set
	// ports are the pod's named container ports, for a policy that names
	// a port.
	ports map[string]int32
}

// inNamespace returns a pod of namespace ns, with the label Kubernetes
// sets on every namespace.
func inNamespace(ns string, podLabels map[string]string) pod {
	return pod{namespace: ns, nsLabels: labels.Set{"kubernetes.io/metadata.name": ns}, labels: labels.Set(podLabels)}
}

// dest is where a connection goes: a pod, or an address outside the
// cluster; a port number and protocol.
type dest struct {
	pod   *pod
	addr  netip.Addr
	port  int32
	proto corev1.Protocol
}

// selects reports whether np applies to p.
func selects(t *testing.T, np *networkingv1.NetworkPolicy, p pod) bool {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	require.NoError(t, err)
	return np.Namespace == p.namespace && sel.Matches(p.labels)
}

// hasType reports whether np restricts traffic in direction typ.
func hasType(np *networkingv1.NetworkPolicy, typ networkingv1.PolicyType) bool {
	for _, pt := range np.Spec.PolicyTypes {
		if pt == typ {
			return true
		}
	}
	return false
}

// peerMatches applies one from/to entry to a pod or an address, as the
// API documents it: a podSelector alone means pods of the policy's
// namespace, a namespaceSelector alone every pod of those namespaces,
// both together the pods of the one in the others; an ipBlock matches
// addresses (here: only those outside the cluster, never a pod).
func peerMatches(t *testing.T, np *networkingv1.NetworkPolicy, peer networkingv1.NetworkPolicyPeer, p *pod, addr netip.Addr) bool {
	t.Helper()
	if peer.IPBlock != nil {
		require.Nil(t, peer.PodSelector, "ipBlock with a podSelector is invalid")
		require.Nil(t, peer.NamespaceSelector, "ipBlock with a namespaceSelector is invalid")
		if p != nil {
			return false
		}
		cidr, err := netip.ParsePrefix(peer.IPBlock.CIDR)
		require.NoError(t, err)
		if !cidr.Contains(addr) {
			return false
		}
		for _, ex := range peer.IPBlock.Except {
			e, err := netip.ParsePrefix(ex)
			require.NoError(t, err)
			if e.Contains(addr) {
				return false
			}
		}
		return true
	}
	require.True(t, peer.PodSelector != nil || peer.NamespaceSelector != nil, "an empty peer")
	if p == nil {
		return false
	}
	if peer.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
		require.NoError(t, err)
		if !sel.Matches(p.nsLabels) {
			return false
		}
	} else if p.namespace != np.Namespace {
		return false
	}
	if peer.PodSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
		require.NoError(t, err)
		if !sel.Matches(p.labels) {
			return false
		}
	}
	return true
}

// portMatches applies a rule's ports to a port of the pod target (a named
// port is looked up in target's ports).
func portMatches(ports []networkingv1.NetworkPolicyPort, port int32, proto corev1.Protocol, target *pod) bool {
	if len(ports) == 0 {
		return true
	}
	for _, pp := range ports {
		p := corev1.ProtocolTCP
		if pp.Protocol != nil {
			p = *pp.Protocol
		}
		if p != proto {
			continue
		}
		if pp.Port == nil {
			return true
		}
		n := pp.Port.IntVal
		if pp.Port.StrVal != "" {
			if target == nil {
				continue
			}
			n = target.ports[pp.Port.StrVal]
		}
		hi := n
		if pp.EndPort != nil {
			hi = *pp.EndPort
		}
		if n != 0 && port >= n && port <= hi {
			return true
		}
	}
	return false
}

// ingressAllowed reports whether from may open a connection to port of
// to, given every policy in nps.
func ingressAllowed(t *testing.T, nps []*networkingv1.NetworkPolicy, from, to pod, port int32, proto corev1.Protocol) bool {
	t.Helper()
	isolated := false
	for _, np := range nps {
		if !selects(t, np, to) || !hasType(np, networkingv1.PolicyTypeIngress) {
			continue
		}
		isolated = true
		for _, r := range np.Spec.Ingress {
			if !portMatches(r.Ports, port, proto, &to) {
				continue
			}
			if len(r.From) == 0 {
				return true
			}
			for _, peer := range r.From {
				if peerMatches(t, np, peer, &from, netip.Addr{}) {
					return true
				}
			}
		}
	}
	return !isolated
}

// egressAllowed reports whether from may open a connection to d, given
// every policy in nps.
func egressAllowed(t *testing.T, nps []*networkingv1.NetworkPolicy, from pod, d dest) bool {
	t.Helper()
	isolated := false
	for _, np := range nps {
		if !selects(t, np, from) || !hasType(np, networkingv1.PolicyTypeEgress) {
			continue
		}
		isolated = true
		for _, r := range np.Spec.Egress {
			if !portMatches(r.Ports, d.port, d.proto, d.pod) {
				continue
			}
			if len(r.To) == 0 {
				return true
			}
			for _, peer := range r.To {
				if peerMatches(t, np, peer, d.pod, d.addr) {
					return true
				}
			}
		}
	}
	return !isolated
}

// allowed is a connection through both ends' policies: egress of the
// source, ingress of the target pod.
func allowed(t *testing.T, nps []*networkingv1.NetworkPolicy, from pod, d dest) bool {
	t.Helper()
	if !egressAllowed(t, nps, from, d) {
		return false
	}
	return d.pod == nil || ingressAllowed(t, nps, from, *d.pod, d.port, d.proto)
}

// natsNetworkPolicy decodes the NetworkPolicy the NATS chart installs
// (extraResources), strictly, as installed in namespace ns.
func natsNetworkPolicy(t *testing.T, v natsValues, ns string) *networkingv1.NetworkPolicy {
	t.Helper()
	var found *networkingv1.NetworkPolicy
	for i, raw := range v.ExtraResources {
		obj, err := decodeObject(raw)
		require.NoError(t, err, "extraResources[%d]", i)
		np, ok := obj.(*networkingv1.NetworkPolicy)
		require.True(t, ok, "extraResources[%d] is a %T", i, obj)
		require.Nil(t, found, "two NetworkPolicies in extraResources")
		require.Empty(t, np.Namespace, "Helm puts it in the release's namespace")
		np.Namespace = ns
		found = np
	}
	require.NotNil(t, found, "the NATS chart installs no NetworkPolicy (extraResources)")
	return found
}

// The chart's selector labels of release "nats" (templates/_helpers.tpl).
var (
	natsServerLabels = map[string]string{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats", "app.kubernetes.io/component": "nats"}
	natsBoxLabels    = map[string]string{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats", "app.kubernetes.io/component": "nats-box"}
)

func TestNetworkPolicies(t *testing.T) {
	t.Parallel()
	b := build(t, exampleOverlay, nil)
	v := readNATSValues(t)
	ns := b.deployment.Namespace
	natsNP := natsNetworkPolicy(t, v, ns)
	nps := []*networkingv1.NetworkPolicy{b.networkPolicy, natsNP}

	httpPort := b.httpPort(t)
	worker := inNamespace(ns, b.deployment.Spec.Template.Labels)
	worker.ports = map[string]int32{httpPort.Name: httpPort.ContainerPort}
	natsPod := inNamespace(ns, natsServerLabels)
	natsBox := inNamespace(ns, natsBoxLabels)
	prometheus := inNamespace("monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"})
	keda := inNamespace("keda", map[string]string{"app": "keda-operator"})
	producer := inNamespace("billing", map[string]string{"app": "billing", "connect-bridge/producer": "true"})
	neighbour := inNamespace(ns, map[string]string{"app": "something-else"})
	stranger := inNamespace("default", map[string]string{"app": "curl"})
	kubeDNS := inNamespace("kube-system", map[string]string{"k8s-app": "kube-dns"})

	connectURL, err := url.Parse(b.effectiveEnv(t)["CONNECT_URL"])
	require.NoError(t, err)
	require.Equal(t, "https", connectURL.Scheme)
	apiPort := int32(443)
	if p := connectURL.Port(); p != "" {
		n, err := strconv.Atoi(p)
		require.NoError(t, err)
		apiPort = int32(n)
	}
	public := netip.MustParseAddr("185.71.76.10") // a public address, like the API's
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	to := func(p pod, port int32, proto corev1.Protocol) dest { return dest{pod: &p, port: port, proto: proto} }
	toAddr := func(a string, port int32) dest { return dest{addr: netip.MustParseAddr(a), port: port, proto: tcp} }

	tests := []struct {
		name string
		from pod
		to   dest
		want bool
	}{
		// The worker's HTTP port: the monitoring namespace only.
		{"prometheus scrapes the worker", prometheus, to(worker, httpPort.ContainerPort, tcp), true},
		{"a neighbour cannot reach the worker's /metrics", neighbour, to(worker, httpPort.ContainerPort, tcp), false},
		{"another namespace cannot reach /readyz", stranger, to(worker, httpPort.ContainerPort, tcp), false},
		{"a producer cannot reach the worker", producer, to(worker, httpPort.ContainerPort, tcp), false},
		{"NATS cannot reach the worker", natsPod, to(worker, httpPort.ContainerPort, tcp), false},
		{"prometheus reaches no other worker port", prometheus, to(worker, 9090, tcp), false},

		// The worker goes to NATS, DNS and the API, nowhere else.
		{"the worker reaches NATS", worker, to(natsPod, 4222, tcp), true},
		{"the worker does not reach NATS monitoring", worker, to(natsPod, 8222, tcp), false},
		{"the worker does not join the NATS cluster", worker, to(natsPod, 6222, tcp), false},
		{"the worker resolves names over UDP", worker, to(kubeDNS, 53, udp), true},
		{"the worker resolves names over TCP", worker, to(kubeDNS, 53, tcp), true},
		{"the worker reaches the API", worker, dest{addr: public, port: apiPort, proto: tcp}, true},
		{"the worker reaches the API over IPv6", worker, toAddr("2a00:1450:4010:c0e::64", apiPort), true},
		{"the worker does not speak plain HTTP out", worker, dest{addr: public, port: 80, proto: tcp}, false},
		{"the worker does not reach the Kubernetes API", worker, toAddr("10.96.0.1", 443), false},
		{"the worker does not reach the cloud metadata", worker, toAddr("169.254.169.254", 443), false},
		{"the worker does not reach private addresses", worker, toAddr("192.168.1.10", 443), false},
		{"the worker does not reach private IPv6", worker, toAddr("fd00::1", 443), false},
		{"the worker does not reach other pods", worker, to(neighbour, 443, tcp), false},
		{"the worker uses no outside DNS", worker, dest{addr: netip.MustParseAddr("8.8.8.8"), port: 53, proto: udp}, false},

		// NATS: clients on 4222, routes between servers, monitoring.
		{"nats-box reaches NATS", natsBox, to(natsPod, 4222, tcp), true},
		{"a labelled producer reaches NATS", producer, to(natsPod, 4222, tcp), true},
		{"an unlabelled neighbour does not reach NATS", neighbour, to(natsPod, 4222, tcp), false},
		{"an unlabelled pod elsewhere does not reach NATS", stranger, to(natsPod, 4222, tcp), false},
		{"a producer does not reach NATS monitoring", producer, to(natsPod, 8222, tcp), false},
		{"a producer does not join the NATS cluster", producer, to(natsPod, 6222, tcp), false},
		{"NATS servers route to each other", natsPod, to(natsPod, 6222, tcp), true},
		{"NATS servers resolve each other", natsPod, to(kubeDNS, 53, udp), true},
		{"prometheus reads NATS monitoring", prometheus, to(natsPod, 8222, tcp), true},
		{"KEDA reads /jsz", keda, to(natsPod, 8222, tcp), true},
		{"KEDA is no NATS client", keda, to(natsPod, 4222, tcp), false},
		{"prometheus is no NATS client", prometheus, to(natsPod, 4222, tcp), false},
		{"NATS does not call out", natsPod, dest{addr: public, port: 443, proto: tcp}, false},
		{"NATS does not reach the worker", natsPod, to(worker, httpPort.ContainerPort, tcp), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, allowed(t, nps, tt.from, tt.to))
		})
	}

	t.Run("each policy selects its pods and restricts both ways", func(t *testing.T) {
		t.Parallel()
		require.True(t, selects(t, b.networkPolicy, worker), "the worker's policy does not select the worker")
		require.False(t, selects(t, b.networkPolicy, natsPod))
		require.True(t, selects(t, natsNP, natsPod), "the NATS policy does not select the NATS servers")
		require.False(t, selects(t, natsNP, natsBox), "nats-box is a client, not a server")
		require.False(t, selects(t, natsNP, worker))
		for _, np := range nps {
			require.True(t, hasType(np, networkingv1.PolicyTypeIngress), "%s", np.Name)
			require.True(t, hasType(np, networkingv1.PolicyTypeEgress), "%s", np.Name)
		}
	})
	t.Run("the worker's HTTP port has one way in, from monitoring", func(t *testing.T) {
		t.Parallel()
		ing := b.networkPolicy.Spec.Ingress
		require.Len(t, ing, 1)
		require.Len(t, ing[0].Ports, 1)
		require.Equal(t, httpPort.ContainerPort, b.resolvePort(t, *ing[0].Ports[0].Port))
		require.Len(t, ing[0].From, 1, "one source")
		peer := ing[0].From[0]
		require.Nil(t, peer.PodSelector)
		require.Nil(t, peer.IPBlock)
		require.NotNil(t, peer.NamespaceSelector)
		require.Equal(t, map[string]string{"kubernetes.io/metadata.name": "monitoring"}, peer.NamespaceSelector.MatchLabels)
		require.Empty(t, peer.NamespaceSelector.MatchExpressions)
		// Every egress rule names its ports and its peers: none is a
		// blanket allow.
		for i, r := range b.networkPolicy.Spec.Egress {
			require.NotEmpty(t, r.Ports, "egress rule %d allows every port", i)
			require.NotEmpty(t, r.To, "egress rule %d allows every destination", i)
		}
	})
}

// TestNetworkPolicyMonitoringSelector builds the example overlay with its
// monitoring patch pointed elsewhere, as an operator would for a
// Prometheus in another namespace.
func TestNetworkPolicyMonitoringSelector(t *testing.T) {
	t.Parallel()
	b := build(t, "test-monitoring", map[string]string{
		"test-monitoring/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../overlays/example
patches:
  - target:
      kind: NetworkPolicy
      name: connect-bridge
    patch: |-
      - op: replace
        path: /spec/ingress/0/from/0/namespaceSelector/matchLabels
        value:
          kubernetes.io/metadata.name: observability
`,
	})
	hp := b.httpPort(t)
	worker := inNamespace(b.deployment.Namespace, b.deployment.Spec.Template.Labels)
	worker.ports = map[string]int32{hp.Name: hp.ContainerPort}
	nps := []*networkingv1.NetworkPolicy{b.networkPolicy}
	require.True(t, ingressAllowed(t, nps, inNamespace("observability", nil), worker, hp.ContainerPort, corev1.ProtocolTCP))
	require.False(t, ingressAllowed(t, nps, inNamespace("monitoring", nil), worker, hp.ContainerPort, corev1.ProtocolTCP))
}
