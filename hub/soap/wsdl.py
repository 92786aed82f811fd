"""Read a service's WSDL 1.1 and XSDs once, at startup.

From the WSDL: each operation's input and output element (document/literal
wrapped: one part, ``element=``) and its SOAPAction in the SOAP 1.1 and SOAP
1.2 bindings. From the XSDs: one compiled ``XMLSchema`` for the payloads. The
published copies (``?wsdl``, ``?xsd=NAME``) are rendered once with the
service address and the schema locations pointing back at the hub, so zeep
and other clients load everything from us and nothing from the network.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from lxml import etree

from forms.safexml import parse_untrusted_xml

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP11_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
WSDL_SOAP12_NS = "http://schemas.xmlsoap.org/wsdl/soap12/"
XS_NS = "http://www.w3.org/2001/XMLSchema"
_W = "{" + WSDL_NS + "}"
_XS = "{" + XS_NS + "}"
_BINDING_VERSIONS = {WSDL_SOAP11_NS: "1.1", WSDL_SOAP12_NS: "1.2"}
_MAX_DESCRIPTION_BYTES = 4 * 1024 * 1024


class WsdlError(ValueError):
    """The WSDL or an XSD does not describe a service this layer can serve."""


@dataclass
class WsdlOperation:
    name: str
    input_element: str  # Clark notation {ns}local
    output_element: str
    # SOAP version ("1.1"/"1.2") -> SOAPAction ("" when the binding declares none)
    actions: dict[str, str] = field(default_factory=dict)


@dataclass
class ServiceDescription:
    operations: dict[str, WsdlOperation]
    schema: etree.XMLSchema
    global_elements: frozenset[str]
    wsdl_tree: etree._ElementTree
    xsd_trees: dict[str, etree._ElementTree]

    def render_wsdl(self, address: str) -> bytes:
        tree = copy.deepcopy(self.wsdl_tree)
        root = tree.getroot()
        for ns in (WSDL_SOAP11_NS, WSDL_SOAP12_NS):
            for element in root.iter(f"{{{ns}}}address"):
                element.set("location", address)
        self._rewrite_locations(root, address)
        return bytes(etree.tostring(tree, encoding="utf-8", xml_declaration=True))

    def render_single_wsdl(self, address: str) -> bytes | None:
        """The WSDL with every XSD inlined in ``wsdl:types`` (WCF's ``?singleWsdl``).

        For clients that refuse transitive fetches (zeep's ``forbid_external``).
        None when an XSD uses ``xs:include``/``xs:redefine``, which cannot be inlined as is.
        """
        xsd_roots = [tree.getroot() for tree in self.xsd_trees.values()]
        if any(
            root.find(_XS + "include") is not None or root.find(_XS + "redefine") is not None
            for root in xsd_roots
        ):
            return None
        tree = copy.deepcopy(self.wsdl_tree)
        root = tree.getroot()
        for ns in (WSDL_SOAP11_NS, WSDL_SOAP12_NS):
            for element in root.iter(f"{{{ns}}}address"):
                element.set("location", address)
        types = root.find(_W + "types")
        if types is None:
            types = etree.Element(_W + "types")
            root.insert(0, types)
        for position, xsd_root in enumerate(xsd_roots):
            types.insert(position, copy.deepcopy(xsd_root))
        for element in types.iter(_XS + "import"):
            if "schemaLocation" in element.attrib:
                del element.attrib["schemaLocation"]
        return bytes(etree.tostring(tree, encoding="utf-8", xml_declaration=True))

    def render_xsds(self, address: str) -> dict[str, bytes]:
        rendered = {}
        for name, tree in self.xsd_trees.items():
            copied = copy.deepcopy(tree)
            self._rewrite_locations(copied.getroot(), address)
            rendered[name] = bytes(etree.tostring(copied, encoding="utf-8", xml_declaration=True))
        return rendered

    def _rewrite_locations(self, root: etree._Element, address: str) -> None:
        for tag in (_XS + "import", _XS + "include", _XS + "redefine"):
            for element in root.iter(tag):
                location = element.get("schemaLocation")
                if location is None:
                    continue
                name = Path(location).name
                if name not in self.xsd_trees:
                    raise WsdlError(f"{location!r} is referenced but not among the service's xsd_files")
                element.set("schemaLocation", f"{address}?xsd={quote(name)}")


def _read(path: Path) -> etree._Element:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WsdlError(f"cannot read {path}: {exc}") from None
    # Our own files, but through the one hardened parser all the same.
    return parse_untrusted_xml(data, max_bytes=_MAX_DESCRIPTION_BYTES)


def _qname(element: etree._Element, attribute: str) -> str:
    raw = element.get(attribute)
    if not raw:
        raise WsdlError(f"<{etree.QName(element).localname}> has no {attribute}=")
    prefix, _, local = raw.rpartition(":")
    ns = element.nsmap.get(prefix or None)
    if ns is None:
        raise WsdlError(f"prefix {prefix!r} of {raw!r} is not declared")
    return f"{{{ns}}}{local}"


def _compile(xsd_paths: dict[str, Path], trees: dict[str, etree._ElementTree]) -> etree.XMLSchema:
    """One schema importing every XSD by absolute file URI (imports between them resolve locally)."""
    wrapper = etree.Element(_XS + "schema", nsmap={"xs": XS_NS})
    seen: set[str] = set()
    for name, tree in trees.items():
        target = tree.getroot().get("targetNamespace", "")
        if target in seen:
            raise WsdlError(f"two XSDs share targetNamespace {target!r}: make one include the other")
        seen.add(target)
        imported = etree.SubElement(
            wrapper, _XS + "import", schemaLocation=xsd_paths[name].resolve().as_uri()
        )
        if target:
            imported.set("namespace", target)
    try:
        return etree.XMLSchema(wrapper)
    except etree.XMLSchemaParseError as exc:
        raise WsdlError(f"the XSDs do not compile: {exc}") from None


def load_service_description(wsdl_file: str | Path, xsd_files: list[str | Path]) -> ServiceDescription:
    xsd_paths = {Path(p).name: Path(p) for p in xsd_files}
    if len(xsd_paths) != len(xsd_files):
        raise WsdlError("two xsd_files share a file name")
    xsd_trees = {name: _read(path).getroottree() for name, path in xsd_paths.items()}
    global_elements: set[str] = set()
    for tree in xsd_trees.values():
        root = tree.getroot()
        target = root.get("targetNamespace", "")
        for element in root.findall(_XS + "element"):
            global_elements.add(f"{{{target}}}{element.get('name')}")
    schema = _compile(xsd_paths, xsd_trees)

    wsdl_root = _read(Path(wsdl_file))
    if wsdl_root.tag != _W + "definitions":
        raise WsdlError("not a WSDL 1.1 document")
    messages: dict[str, str] = {}
    target_ns = wsdl_root.get("targetNamespace", "")
    for message in wsdl_root.findall(_W + "message"):
        parts = message.findall(_W + "part")
        if len(parts) != 1:
            raise WsdlError(
                f"message {message.get('name')!r}: document/literal wrapped takes exactly one part"
            )
        messages[f"{{{target_ns}}}{message.get('name')}"] = _qname(parts[0], "element")

    operations: dict[str, WsdlOperation] = {}
    port_types: dict[str, dict[str, WsdlOperation]] = {}
    for port_type in wsdl_root.findall(_W + "portType"):
        ops: dict[str, WsdlOperation] = {}
        for op in port_type.findall(_W + "operation"):
            name = op.get("name") or ""
            in_msg, out_msg = op.find(_W + "input"), op.find(_W + "output")
            if in_msg is None or out_msg is None:
                raise WsdlError(f"operation {name!r} must be request-response")
            try:
                operation = WsdlOperation(
                    name, messages[_qname(in_msg, "message")], messages[_qname(out_msg, "message")]
                )
            except KeyError:
                raise WsdlError(f"operation {name!r} names an undeclared message") from None
            if name in operations:
                raise WsdlError(f"operation {name!r} is declared twice")
            operations[name] = ops[name] = operation
        port_types[f"{{{target_ns}}}{port_type.get('name')}"] = ops

    for binding in wsdl_root.findall(_W + "binding"):
        bound_ops = port_types.get(_qname(binding, "type"))
        if bound_ops is None:
            raise WsdlError(f"binding {binding.get('name')!r} names an undeclared portType")
        version = None
        for ns, name in _BINDING_VERSIONS.items():
            soap_binding = binding.find(f"{{{ns}}}binding")
            if soap_binding is not None:
                if soap_binding.get("style", "document") != "document":
                    raise WsdlError(f"binding {binding.get('name')!r}: only document style is served")
                version = name
        if version is None:
            continue  # an HTTP or other binding: not ours to serve
        for op in binding.findall(_W + "operation"):
            bound = bound_ops.get(op.get("name") or "")
            if bound is None:
                raise WsdlError(f"binding operation {op.get('name')!r} is not in its portType")
            soap_ns = WSDL_SOAP11_NS if version == "1.1" else WSDL_SOAP12_NS
            soap_op = op.find(f"{{{soap_ns}}}operation")
            bound.actions[version] = (soap_op.get("soapAction") or "") if soap_op is not None else ""
            for direction in ("input", "output"):
                body = op.find(f"{_W}{direction}/{{{soap_ns}}}body")
                if body is not None and body.get("use", "literal") != "literal":
                    raise WsdlError(f"operation {bound.name!r}: only use=literal is served")

    for operation in operations.values():
        if not operation.actions:
            raise WsdlError(f"operation {operation.name!r} has no SOAP binding")
        for element_name in (operation.input_element, operation.output_element):
            if element_name not in global_elements:
                raise WsdlError(
                    f"operation {operation.name!r}: element {element_name} is not declared in the XSDs"
                )
    inputs = [op.input_element for op in operations.values()]
    if len(set(inputs)) != len(inputs):
        raise WsdlError("two operations take the same input element: the body could not name its operation")

    return ServiceDescription(
        operations, schema, frozenset(global_elements), wsdl_root.getroottree(), xsd_trees
    )
