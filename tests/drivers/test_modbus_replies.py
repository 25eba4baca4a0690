"""The driver's fast paths give what pymodbus' own code and ``Reading(...)`` give.

Replies decoded in one ``struct`` call must hold the registers pymodbus'
built-in classes decode, and refuse what they refuse; a prebuilt Modbus TCP
frame must be the bytes pymodbus' framer builds; readings made through
``tuple.__new__`` must be whole, equal ``Reading(...)`` and immutable.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU
from pymodbus.pdu import register_message as pdu_reg

from monitor.config.devices import ChannelSpec, DataType
from monitor.drivers.modbus.bus import Bus, prebuilt_request
from monitor.drivers.modbus.decode import ChannelDecoder, decode_direct, direct_plan
from monitor.drivers.modbus.link import TcpLink, shared_framer
from monitor.drivers.modbus.replies import (
    HoldingRegistersReply,
    InputRegistersReply,
    frame_tail,
    shared_decoder,
)
from monitor.model import Quality, Reading, TimeSource
from tests.fixtures.modbus_sim import tcp_connection


@settings(max_examples=60, deadline=None)
@given(registers=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125),
       fc=st.sampled_from([3, 4]), trailing=st.binary(max_size=3))
def test_reply_registers_match_pymodbus(registers: list[int], fc: int, trailing: bytes) -> None:
    data = bytes((2 * len(registers),)) + b"".join(r.to_bytes(2, "big") for r in registers)
    builtin = (pdu_reg.ReadHoldingRegistersResponse() if fc == 3
               else pdu_reg.ReadInputRegistersResponse())
    builtin.decode(data + trailing)
    fast = HoldingRegistersReply() if fc == 3 else InputRegistersReply()
    fast.decode(data + trailing)
    assert list(fast.registers) == list(builtin.registers) == registers
    assert fast.function_code == fc
    assert not fast.isError()
    assert str(fast) == type(fast).__name__


@pytest.mark.parametrize("data", [b"\x14\x00\x01", b"\x03\x00\x01\x02\x03", b"\x02\x00"])
def test_short_or_odd_replies_are_refused(data: bytes) -> None:
    with pytest.raises(ModbusIOException):
        HoldingRegistersReply().decode(data)


def test_shared_decoder_builds_the_fast_replies_and_keeps_the_others() -> None:
    decoder = shared_decoder()
    frame = bytes((3, 4)) + (1234).to_bytes(2, "big") + (7).to_bytes(2, "big")
    reply = decoder.decode(frame)
    assert isinstance(reply, HoldingRegistersReply)
    assert list(reply.registers) == [1234, 7]
    assert isinstance(decoder.decode(bytes((4, 2, 0, 9))), InputRegistersReply)
    # the class table of pymodbus itself is not changed
    assert DecodePDU.pdu_table[3][1] is pdu_reg.ReadHoldingRegistersResponse
    error = decoder.decode(bytes((0x83, 2)))
    assert error is not None
    assert error.isError()


async def test_every_bus_shares_the_decoder() -> None:
    first, second = Bus(tcp_connection(5020)), Bus(tcp_connection(5021))
    links = first._make_client(), second._make_client()
    assert all(isinstance(link, TcpLink) for link in links)  # they use the shared framer
    assert shared_framer().decoder is shared_decoder()
    first._fast_replies = second._fast_replies = False  # pymodbus' clients: theirs
    one, two = first._make_client(), second._make_client()
    try:
        assert not isinstance(one, TcpLink)
        assert one.ctx.framer.decoder is two.ctx.framer.decoder is shared_decoder()
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize(("fc", "address", "count", "unit"),
                         [(3, 0, 10, 1), (4, 513, 2, 247), (1, 7, 16, 3), (2, 0, 2000, 255)])
def test_prebuilt_frame_is_what_the_framer_builds(fc: int, address: int, count: int,
                                                  unit: int) -> None:
    pdu = prebuilt_request(fc, address, count, unit)
    for tid in (1, 258, 65000):
        pdu.transaction_id = tid
        built = FramerSocket(DecodePDU(False)).buildFrame(pdu)
        assert tid.to_bytes(2, "big") + frame_tail(pdu) == built


def test_fast_readings_are_whole_equal_and_immutable() -> None:
    spec = ChannelSpec.model_validate({"name": "t", "quantity": "temperature", "unit": "degC",
                                       "address": 0, "type": DataType.U16, "scale": 0.1,
                                       "range": [0, 100]})
    fast = ChannelDecoder("dev", spec).decode([215], 0, 17)
    assert fast == Reading("dev/t", 21.5, Quality.GOOD, 17, 215.0)
    assert len(fast) == len(Reading._fields)
    assert (fast.device_ts_ns, fast.detail, fast.ts_source) == (None, None, TimeSource.DAEMON)
    with pytest.raises(AttributeError):
        fast.value = 0.0  # type: ignore[misc]
    moved = fast._replace(detail="note")
    assert (moved.detail, fast.detail) == ("note", None)
    out = ChannelDecoder("dev", spec).decode([1001], 0, 17)
    assert out.quality is Quality.OUT_OF_RANGE
    assert out.detail == "above range"


_SPEC = st.fixed_dictionaries({
    "type": st.sampled_from([DataType.U16, DataType.S16]),
    "byte_order": st.sampled_from(["ABCD", "CDAB"]),
    "scale": st.sampled_from([1.0, 0.1, 0.01, -2.5]),
    "offset": st.sampled_from([0.0, -40.0, 3.25]),
    "range": st.one_of(st.none(), st.sampled_from([[0, 100], [-50, 50], [-1000, 6000]])),
})


@settings(max_examples=60, deadline=None)
@given(specs=st.lists(_SPEC, min_size=1, max_size=10),
       registers=st.lists(st.integers(0, 0xFFFF), min_size=10, max_size=10))
def test_direct_decoding_is_what_each_decoder_gives(specs: list[dict[str, object]],
                                                    registers: list[int]) -> None:
    decoders = [ChannelDecoder("dev", ChannelSpec.model_validate(
        {"name": f"c{k}", "quantity": "temperature", "unit": "degC", "address": k, **body}))
        for k, body in enumerate(specs)]
    channels = list(enumerate(decoders))
    plan = direct_plan(channels)
    assert plan is not None
    out: list[Reading] = []
    decode_direct(plan, [d.channel for d in decoders], registers, 42, out)
    assert out == [dec.decode(registers, index, 42) for index, dec in channels]
    # under other ids (a plan shared by the devices of a profile): only the id differs
    again: list[Reading] = []
    decode_direct(plan, [f"other/c{k}" for k in range(len(decoders))], registers, 42, again)
    assert again == [r._replace(channel=f"other/c{k}") for k, r in enumerate(out)]
    assert [r.quality for r in out] == [dec.decode(registers, index, 42).quality
                                        for index, dec in channels]


def test_direct_plan_leaves_the_other_channels_to_their_decoders() -> None:
    def decoder(**body: object) -> ChannelDecoder:
        return ChannelDecoder("dev", ChannelSpec.model_validate(
            {"name": "c", "quantity": "temperature", "unit": "degC", "address": 0, **body}))

    plain = decoder(type=DataType.U16)
    assert direct_plan([(0, plain)]) is not None
    for other in (decoder(type=DataType.F32), decoder(type=DataType.U32),
                  decoder(type=DataType.U16, nan_values=[0xFFFF]),
                  decoder(type=DataType.U16, byte_order="BADC"),
                  decoder(type=DataType.U16, bit=3)):
        assert direct_plan([(0, plain), (1, other)]) is None
