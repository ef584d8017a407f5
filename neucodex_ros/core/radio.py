"""Radio presets: energy per bit sent and received (no torch: option parsers import it)."""

RADIO_NJ_PER_BIT = {  # transmitting
    'low-power-2.4ghz': 16.95,  # nRF24L01: 11.3 mA × 3.0 V / 2 Mbit/s
    'wifi-phone': 645.0,  # AAU measurement, smartphone 802.11b/g
    'none': 0.0,  # compute only
}
RADIO_RX_NJ_PER_BIT = {  # receiving
    'low-power-2.4ghz': 20.25,  # nRF24L01: 13.5 mA × 3.0 V / 2 Mbit/s
    'wifi-phone': 645.0,
    'none': 0.0,
}
DEFAULT_RADIO = 'low-power-2.4ghz'
RADIO_HELP = (f'radio energy: a preset ({", ".join(RADIO_NJ_PER_BIT)}) or nJ per bit '
              '(default: %(default)s)')


def radio(text: str) -> str | float:
    """A `--radio` value: a preset's name, or nJ per bit (≥ 0); ValueError otherwise."""
    if text in RADIO_NJ_PER_BIT:
        return text
    value = float(text)
    if not value >= 0:
        raise ValueError(f'radio energy must be >= 0 nJ per bit, got {text}')
    return value
