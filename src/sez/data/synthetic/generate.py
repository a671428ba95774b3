"""The entry point: :func:`synthetic` draws the firms, simulates them, attaches identities, builds
the raw records with their mess and writes the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sez.data.read import importable
from sez.data.synthetic.files import file_format
from sez.data.synthetic.mess import MONEY_IN_YUAN_YEAR, NO_MESS, MessRates, _attach_identities
from sez.data.synthetic.process import (
    ALPHA_M,
    BETA_0,
    BETA_K,
    BETA_L,
    DELTA,
    EXIT_0,
    IOTA_0,
    IOTA_K,
    IOTA_OMEGA,
    LABOUR_0,
    LABOUR_K,
    LABOUR_OMEGA,
    LABOUR_WAGE,
    OUTPUT_PRICE_INDEX,
    RHO,
    SIGMA_EPS,
    SIGMA_LABOUR,
    SIGMA_MU,
    SIGMA_XI,
    TARGET_CODE_YEAR,
    TAU_SEZ,
    _draw_firms,
    _simulate,
)
from sez.data.synthetic.records import _write_raw
from sez.limits import SUPPORTED_YEARS, check_size


@dataclass
class SyntheticASIE:
    """Raw yearly extracts, where they were written, and the truth behind them.

    Attributes
    ----------
    raw : dict[int, DataFrame]
        One raw frame per year, with that year's headers, codes and units.
    truth : DataFrame
        One row per true firm-year: ``firm_id``, ``year``, ``raw_row`` (row of
        the first copy in that year's raw frame), the raw ``legal_person_code``
        and ``firm_name``, true codes and states, real quantities and
        ``ln_tfp``; the parameters are in ``truth.attrs``.
    files : dict[int, Path]
        Year -> file written (empty when no ``out_dir``).
    formats : dict[int, str]
        Year -> format actually written (``csv``, ``csv-bom``, ``csv-gb18030``,
        ``parquet``, ``dta``, ``xlsx``).
    mess_log : DataFrame
        ``kind, year, firm_id`` of every injected irregularity (missing
        numeric cells are not listed: they are visible as NaN).

    Notes
    -----
    In years written as Stata files a missing text cell is ``""`` in ``raw``
    (Stata has no missing string), elsewhere it is missing.
    notes : list[str]
        E.g. a format fallback.
    """

    raw: dict[int, pd.DataFrame]
    truth: pd.DataFrame
    files: dict[int, Path] = field(default_factory=dict)
    formats: dict[int, str] = field(default_factory=dict)
    mess_log: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


#: Bytes per raw record at the generator's peak (the records hold names and addresses as text). Measured on a
#: 2-core x86-64 machine: 25 KB per firm at the default exit hazard (8.7 records a firm), 2.9 KB a record, and
#: 9.2 GiB for the paper-size demo's 3.1 million records, 3.2 KB a record; 3.8 KB leaves a margin.
BYTES_PER_RECORD = 3800
#: Seconds per firm and survey year, writing the files aside (measured 8-9 microseconds).
SECONDS_PER_FIRM_YEAR = 10e-6


def expected_records(n_firms: int, n_years: int, exit_intercept: float) -> float:
    """About how many raw records :func:`synthetic` makes: a firm stays ``L = 1 / hazard`` years on average
    (the exit hazard at mean productivity and labour), cut by the survey's ``n_years``; ``n_years L /
    (n_years + L)`` records a firm matched the generator within 13% (8.7 at ``EXIT_0``, 2.75 at the paper
    size's ``PAPER_EXIT_0``, against 8.73 and 2.40).
    """
    stay = 1.0 + np.exp(-exit_intercept)  # 1 / logistic(exit_intercept)
    return n_firms * n_years * stay / (n_years + stay)


def synthetic(n_firms: int = 20_000, years: tuple[int, int] = (1998, 2013), seed: int = 0,
              out_dir: str | Path | None = None, mess: str | MessRates = "default",
              exit_intercept: float = EXIT_0, excel_years: tuple[int, ...] | None = None,
              allow_large: bool = False) -> SyntheticASIE:
    """Generate raw yearly ASIE extracts and the truth behind them.

    Parameters
    ----------
    n_firms : int
        Number of true firms over the whole period (incumbents and entrants).
    years : (int, int)
        First and last survey year, inclusive, within ``sez.limits.SUPPORTED_YEARS`` (the years reading accepts).
    seed : int
        Seed of ``numpy.random.SeedSequence``; independent streams for the firm
        process, the addresses and identities, and the mess.
    out_dir : path, optional
        Write one file per year (format by ``FILE_FORMATS``) and
        ``truth.parquet`` / ``truth_params.json`` there.
    mess : {"default", "none"} or MessRates
        Which irregularities to inject.
    exit_intercept : float
        Intercept of the exit hazard's logit: ``EXIT_0`` (about 8.7 firm-years
        a firm after cleaning over 1998-2013) or ``PAPER_EXIT_0`` (about 3.9,
        the SEZ paper's turnover).
    excel_years : tuple of int, optional
        Years written as Excel among those ``FILE_FORMATS`` says (the others
        as UTF-8 CSV with a byte-order mark); default: all of them.
    allow_large : bool
        Generate even where the estimate from ``n_firms`` and ``years`` (``BYTES_PER_RECORD``,
        ``SECONDS_PER_FIRM_YEAR``) exceeds the memory or time limits of ``sez.limits``; otherwise a
        :class:`sez.errors.SizeError` gives the estimate before anything is drawn.

    Returns
    -------
    SyntheticASIE
    """
    first, last = int(years[0]), int(years[1])
    lowest, highest = SUPPORTED_YEARS[0], min(SUPPORTED_YEARS[1], TARGET_CODE_YEAR)
    if not (lowest <= first <= last <= highest):
        raise ValueError(f"years must lie within {lowest}-{highest} (the years reading accepts) and be ordered, "
                         f"got {years}")
    if n_firms < 10:
        raise ValueError(f"n_firms must be at least 10, got {n_firms}")
    firm_years = int(n_firms) * (last - first + 1)
    records = expected_records(int(n_firms), last - first + 1, exit_intercept)
    check_size(f"synthetic(n_firms={n_firms:,}, years={years})", int(records), "raw records (expected)",
               BYTES_PER_RECORD * records, SECONDS_PER_FIRM_YEAR * firm_years, allow_large=allow_large,
               override="synthetic(..., allow_large=True)")
    rates = {"default": MessRates(), "none": NO_MESS}.get(mess, mess) if isinstance(mess, str) else mess
    if not isinstance(rates, MessRates):
        raise ValueError(f"mess must be 'default', 'none' or a MessRates, got {mess!r}")
    firm_stream, identity_stream, mess_stream = (np.random.default_rng(s)
                                                 for s in np.random.SeedSequence(seed).spawn(3))
    firms = _draw_firms(n_firms, first, last, firm_stream)
    panel = _simulate(firms, first, last, firm_stream, exit_intercept)
    _attach_identities(firms, panel, first, rates, identity_stream)
    raw, truth, mess_log = _write_raw(firms, panel, first, last, rates, mess_stream)
    truth.attrs.update(_parameters(rates))
    result = SyntheticASIE(raw=raw, truth=truth, mess_log=mess_log)
    if out_dir is not None:
        _write_files(result, Path(out_dir), excel_years)
    return result


def _parameters(rates: MessRates) -> dict:
    return {"beta_0": BETA_0, "beta_k": BETA_K, "beta_l": BETA_L, "alpha_m": ALPHA_M,
            "alpha_k_gross_output": BETA_K * (1 - ALPHA_M), "alpha_l_gross_output": BETA_L * (1 - ALPHA_M),
            "sigma_eps": SIGMA_EPS, "rho": RHO, "sigma_xi": SIGMA_XI, "sigma_mu": SIGMA_MU, "tau_sez": TAU_SEZ,
            "delta": DELTA, "iota": [IOTA_0, IOTA_K, IOTA_OMEGA],
            "labour": [LABOUR_0, LABOUR_K, LABOUR_OMEGA, LABOUR_WAGE, SIGMA_LABOUR],
            "money_in_yuan_year": MONEY_IN_YUAN_YEAR if rates.units else None,
            "output_price_index": {str(k): v for k, v in OUTPUT_PRICE_INDEX.items()},
            "real_units": "1000 yuan at 1998 prices", "mess": {k: v for k, v in vars(rates).items()}}


def _write_files(result: SyntheticASIE, out_dir: Path, excel_years: tuple[int, ...] | None = None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = importable("xlsxwriter", "openpyxl")  # xlsxwriter writes about 1.3x faster
    for year, frame in result.raw.items():
        fmt = file_format(year)
        if fmt == "xlsx" and not writer:
            result.notes.append(f"{year}: no Excel writer (openpyxl/xlsxwriter) installed; wrote CSV instead")
            fmt = "csv-bom"
        elif fmt == "xlsx" and excel_years is not None and year not in excel_years:
            result.notes.append(f"{year}: CSV instead of Excel (Excel is kept for {list(excel_years)} only)")
            fmt = "csv-bom"
        path = out_dir / f"asie_{year}.{ {'parquet': 'parquet', 'dta': 'dta', 'xlsx': 'xlsx'}.get(fmt, 'csv') }"
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        elif fmt == "dta":
            frame.to_stata(path, write_index=False, version=118)
        elif fmt == "xlsx":
            frame.to_excel(path, index=False, engine=writer)
        else:
            encoding = {"csv": "utf-8", "csv-bom": "utf-8-sig", "csv-gb18030": "gb18030"}[fmt]
            frame.to_csv(path, index=False, encoding=encoding)
        result.files[year], result.formats[year] = path, fmt
    truth = result.truth
    truth.to_parquet(out_dir / "truth.parquet", index=False)
    params = dict(truth.attrs, formats={str(k): v for k, v in result.formats.items()}, notes=result.notes)
    (out_dir / "truth_params.json").write_text(json.dumps(params, ensure_ascii=False, indent=1), encoding="utf-8")
