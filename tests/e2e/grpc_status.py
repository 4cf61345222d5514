"""Reads the dx.v1.ErrorDetail that dxgate packs in a gRPC error's
`grpc-status-details-bin` trailer (a google.rpc.Status-compatible
dx.v1.RpcStatus). Shared by the end-to-end tests."""
from dx.v1 import errors_pb2


def detail_of(err):
    """The ErrorDetail of a grpc.RpcError, or None."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = errors_pb2.RpcStatus()
            status.ParseFromString(value)
            for any_msg in status.details:
                detail = errors_pb2.ErrorDetail()
                if any_msg.Unpack(detail):
                    return detail
    return None


def localized_of(err):
    """The google.rpc.LocalizedMessages of a grpc.RpcError, as a list of
    (locale, message) in the order the gateway sent them."""
    from google.rpc import localized_message_pb2
    out = []
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = errors_pb2.RpcStatus()
            status.ParseFromString(value)
            for any_msg in status.details:
                m = localized_message_pb2.LocalizedMessage()
                if any_msg.Is(m.DESCRIPTOR) and any_msg.Unpack(m):
                    out.append((m.locale, m.message))
    return out
