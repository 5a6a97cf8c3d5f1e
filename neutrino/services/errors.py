"""Domain errors, named exactly as Neutron names them (the name is the NeutronError ``type``).

    NeutronError
    ├── BadRequest (400) ── InvalidInput, InvalidCIDR, InvalidAllocationPool, ...
    ├── NotAuthorized (403) ── PolicyNotAuthorized, AdminRequired
    ├── NotFound (404) ── NetworkNotFound, SubnetNotFound, PortNotFound, ...
    ├── Conflict (409) ── InUse (NetworkInUse, SubnetInUse, ...), OverQuota, MacAddressInUse, ...
    ├── PreconditionFailed (412) ── RevisionNumberConstraintFailed
    └── ServiceUnavailable (503) ── NoNetworkAvailable

api/errors.py turns the family into the HTTP status.
"""

from __future__ import annotations


class NeutronError(Exception):
    message = "An unknown exception occurred."

    def __init__(self, message: str | None = None, **kwargs):
        self.kwargs = kwargs
        super().__init__(message or self.message.format(**kwargs))

    @property
    def type(self) -> str:
        return type(self).__name__


class BadRequest(NeutronError):
    message = "Bad {resource} request: {msg}."


class InvalidInput(BadRequest):
    message = "Invalid input for operation: {error_message}."


class HTTPBadRequest(BadRequest):
    """Neutron's generic 400 for malformed bodies and invalid attribute values."""


class InvalidCIDR(BadRequest):
    message = "Invalid CIDR {input} given as IP prefix."


class InvalidAllocationPool(BadRequest):
    message = "The allocation pool {pool} is not valid."


class OutOfBoundsAllocationPool(BadRequest):
    message = "The allocation pool {pool} spans beyond the subnet cidr {subnet_cidr}."


class NotAuthorized(NeutronError):
    message = "Not authorized."


class PolicyNotAuthorized(NotAuthorized):
    message = "({action}) is disallowed by policy"


class HTTPForbidden(NotAuthorized):
    """Neutron's ownership check on creating a subnet or port on another project's network (webob's 403)."""

    message = "Tenant {tenant_id} not allowed to create {resource} on this network"


class AdminRequired(NotAuthorized):
    message = "User does not have admin privileges: {reason}."


class NotFound(NeutronError):
    pass


class Conflict(NeutronError):
    pass


class InUse(Conflict):
    message = "The resource is in use."


class InvalidSharedSetting(Conflict):
    message = "Unable to reconfigure sharing settings for network {network}. Multiple tenants are using it."


class OverQuota(Conflict):
    message = "Quota exceeded for resources: {overs}."


class PreconditionFailed(NeutronError):
    pass


class RevisionNumberConstraintFailed(PreconditionFailed):
    message = "Constrained to {expected}, but current revision is {current}"


class ServiceUnavailable(NeutronError):
    message = "The service is unavailable."


class NoNetworkAvailable(ServiceUnavailable):
    message = "Unable to create the network. No tenant network is available for allocation."


def _not_found(kind: str, label: str) -> type[NotFound]:
    return type(kind + "NotFound", (NotFound,), {"message": label + " {id} could not be found."})


NetworkNotFound = _not_found("Network", "Network")
SubnetNotFound = _not_found("Subnet", "Subnet")
PortNotFound = _not_found("Port", "Port")
SecurityGroupNotFound = _not_found("SecurityGroup", "Security group")
SecurityGroupRuleNotFound = _not_found("SecurityGroupRule", "Security group rule")
AgentNotFound = _not_found("Agent", "Agent")


class RouterNotFound(NotFound):
    message = "Router {id} could not be found"  # sic: no full stop, as neutron-lib's


class FloatingIPNotFound(NotFound):
    message = "Floating IP {id} could not be found"


class RouterInterfaceNotFound(NotFound):
    message = "Router {router_id} does not have an interface with id {port_id}"


class RouterInterfaceNotFoundForSubnet(NotFound):
    message = "Router {router_id} has no interface on subnet {subnet_id}"


class ExternalGatewayForFloatingIPNotFound(NotFound):
    message = ("External network {external_network_id} is not reachable from subnet {subnet_id}.  Therefore, "
               "cannot associate Port {port_id} with a Floating IP.")


class TagNotFound(NotFound):
    message = "Tag {tag} could not be found for {resource} {resource_id}."


class NetworkInUse(InUse):
    message = "Unable to complete operation on network {net_id}. There are one or more ports still in use on the network."


class SubnetInUse(InUse):
    message = "Unable to complete operation on subnet {subnet_id}: {reason}."


class SecurityGroupInUse(InUse):
    message = "Security Group {id} in use."


class SecurityGroupCannotRemoveDefault(InUse):
    message = "Insufficient rights for removing default security group."


class SecurityGroupCannotUpdateDefault(InUse):
    message = "Updating default security group not allowed."


class MacAddressInUse(InUse):
    message = "Unable to complete operation for network {net_id}. The mac address {mac} is in use."


class IpAddressInUse(InUse):
    message = "Unable to complete operation for network {net_id}. The IP address {ip_address} is in use."


class IpAddressGenerationFailure(Conflict):
    message = "No more IP addresses available on network {net_id}."


class SecurityGroupRuleExists(InUse):
    message = "Security group rule already exists. Rule id is {rule_id}."


class DuplicateSecurityGroupRuleInPost(InUse):
    message = "Duplicate Security Group Rule in POST: {rule}."


class VlanIdInUse(InUse):
    message = (
        "Unable to create the network. The VLAN {vlan_id} on physical network {physical_network} is in use."
    )


class FlatNetworkInUse(InUse):
    message = "Unable to create the flat network. Physical network {physical_network} is in use."


class TunnelIdInUse(InUse):
    message = "Unable to create the network. The tunnel ID {tunnel_id} is in use."


class SubnetOverlap(BadRequest):
    """Neutron raises InvalidInput; kept as its own class for a precise message."""


class GatewayConflictWithAllocationPools(InUse):
    message = "Gateway ip {ip_address} conflicts with allocation pool {pool}."


class OverlappingAllocationPools(Conflict):
    message = "Found overlapping allocation pools: {pool_1} {pool_2} for subnet {subnet_cidr}."


class DNSNameServersExhausted(BadRequest):
    message = "Unable to complete operation for {subnet_id}. The number of DNS nameservers exceeds the limit {quota}."


class HostRoutesExhausted(BadRequest):
    message = "Unable to complete operation for {subnet_id}. The number of host routes exceeds the limit {quota}."


class InvalidIpForSubnet(BadRequest):
    message = "IP address {ip_address} is not a valid IP for the specified subnet."


class InvalidIpForNetwork(BadRequest):
    message = "IP address {ip_address} is not a valid IP for any of the subnets on the specified network."


class PortBound(InUse):
    message = "Unable to complete operation on port {port_id}, port is already bound, port type: {vif_type}, old_mac {old_mac}, new_mac {new_mac}."


class AddressPairAndPortSecurityRequired(Conflict):
    message = "Port Security must be enabled in order to have allowed address pairs on a port."


class PortSecurityAndIPRequiredForSecurityGroups(BadRequest):
    message = "Port security must be enabled and port must have an IP address in order to use security groups."


class PortSecurityPortHasSecurityGroup(InUse):
    message = "Port has security group associated. Cannot disable port security or IP address until security group is removed."


class DuplicateAddressPairInRequest(InvalidInput):
    message = "Request contains duplicate address pair: mac_address {mac_address} ip_address {ip_address}."


class AllowedAddressPairsMissingIP(InvalidInput):
    message = "AllowedAddressPair must contain ip_address"


class AllowedAddressPairExhausted(BadRequest):
    message = "The number of allowed address pair exceeds the maximum {quota}."


class SecurityGroupRuleParameterConflict(BadRequest):
    message = "Conflicting value ethertype {ethertype} for CIDR {cidr}"


class SecurityGroupMultipleRemoteEntites(BadRequest):  # sic: Neutron's spelling is the wire type
    message = "Only one of remote_ip_prefix, remote_group_id or remote_address_group_id may be provided."


class SecurityGroupProtocolRequiredWithPorts(BadRequest):
    message = "Must also specify protocol if port range is given."


class SecurityGroupInvalidPortValue(BadRequest):
    message = "Invalid value for port {port}."


class SecurityGroupInvalidProtocolForPort(BadRequest):
    message = "Invalid protocol {protocol} for port range, only supported for {valid_port_protocols} protocols."


class SecurityGroupEthertypeConflictWithProtocol(BadRequest):
    message = "Invalid ethertype {ethertype} for protocol {protocol}."


class SecurityGroupInvalidPortRange(BadRequest):
    message = "For TCP/UDP protocols, port_range_min must be <= port_range_max"


class SecurityGroupInvalidIcmpValue(BadRequest):
    message = "Invalid value for ICMP {field} (type or code) {attr} {value}. It must be 0 to 255."


class SecurityGroupMissingIcmpType(BadRequest):
    message = "ICMP code (port-range-max) {value} is provided but ICMP type (port-range-min) is missing."


class SecurityGroupRuleInvalidProtocol(BadRequest):
    message = "Security group rule protocol {protocol} not supported. Only protocol values {values} and integer representations [0 to 255] are supported."


class SecurityGroupRulesNotSingleTenant(BadRequest):
    message = "Only allowed to update rules for one security profile at a time"


class SecurityGroupNotSingleGroupRules(BadRequest):
    message = "Only allowed to update rules for one security profile at a time"


# --- routers and floating IPs (neutron_lib.exceptions.l3, .extraroute, .external_net) ---


class RouterInUse(InUse):
    message = "Router {router_id} {reason}"

    def __init__(self, message: str | None = None, **kwargs):
        kwargs.setdefault("reason", "still has ports")
        super().__init__(message, **kwargs)


class RouterInterfaceInUseByFloatingIP(InUse):
    message = ("Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, as it is "
               "required by one or more floating IPs.")


class RouterInterfaceInUseByRoute(InUse):
    message = ("Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, as it is "
               "required by one or more routes.")


class RouterExternalGatewayInUseByFloatingIp(InUse):
    message = ("Gateway cannot be updated for router {router_id}, since a gateway to external network {net_id} "
               "is required by one or more floating IPs.")


class FloatingIPPortAlreadyAssociated(InUse):
    message = ("Cannot associate floating IP {floating_ip_address} ({fip_id}) with port {port_id} using fixed IP "
               "{fixed_ip}, as that fixed IP already has a floating IP on external network {net_id}.")


class PortInUse(InUse):
    message = ("Unable to complete operation on port {port_id} for network {net_id}. Port already has an "
               "attached device {device_id}.")


class ServicePortInUse(InUse):
    message = "Port {port_id} cannot be deleted directly via the port API: {reason}."


class ExternalNetworkInUse(InUse):
    message = ("External network {net_id} cannot be updated to be made non-external, since it has existing "
               "gateway ports.")


class SubnetMismatchForPort(BadRequest):
    message = "Subnet on port {port_id} does not match the requested subnet {subnet_id}."


class InvalidRoutes(InvalidInput):
    message = "Invalid format for routes: {routes}, {reason}"


class RoutesExhausted(BadRequest):
    message = "Unable to complete operation for {router_id}. The number of routes exceeds the maximum {quota}."


class ExternalIpAddressExhausted(BadRequest):
    message = "Unable to find any IP address on external network {net_id}."
