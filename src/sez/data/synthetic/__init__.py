"""Synthetic raw ASIE extracts generated from a known truth.

The firm process, its parameters and every rate of mess: ``docs/data.md``, "The synthetic generator's firm
process and mess".
"""

from sez.data.synthetic.process import (ALPHA_M, BETA_0, BETA_K, BETA_L, COASTAL_PROVINCES, COASTAL_WEIGHT, DELTA,
                                        ENTRANT_K_SHIFT, EXIT_0, EXIT_L, EXIT_OMEGA, EXPORT_0, EXPORT_FOREIGN,
                                        EXPORT_OMEGA, EXPORT_PERSIST, EXPORT_SEZ, INCUMBENT_MEAN_AGE, INCUMBENT_SHARE,
                                        INITIAL_K_MEAN, INITIAL_K_SD, INTEREST_RATE, IOTA_0, IOTA_K, IOTA_OMEGA,
                                        LABOUR_0, LABOUR_K, LABOUR_MEAN, LABOUR_OMEGA, LABOUR_WAGE, MOVER_SHARE,
                                        OUTPUT_PRICE_INDEX, OWNERSHIP, OWNERSHIP_SHARES_ENTRANT,
                                        OWNERSHIP_SHARES_INCUMBENT, OWNERSHIP_TFP_SHIFT, PAPER_EXIT_0, P_BORN_IN_ZONE,
                                        P_BORN_IN_ZONE_FOREIGN, REGISTRATION_TYPES, RHO, SIGMA_EPS, SIGMA_INDUSTRY,
                                        SIGMA_LABOUR, SIGMA_LABOUR_FIRM, SIGMA_MU, SIGMA_WAGE_COUNTY, SIGMA_WAGE_FIRM,
                                        SIGMA_XI, TARGET_CODE_YEAR, TAU_SEZ, VAT_RATE, WAGE_1998, WAGE_GROWTH,
                                        WELFARE_RATE, WHOLLY_OWNED, ZONE_COUNTY_SHARE)
from sez.data.synthetic.mess import (ENGLISH_HEADER_YEARS, FALSE_POSITIVE_STREETS, INDUSTRY_WORDS, MONEY_IN_YUAN_YEAR,
                                     NO_MESS, PINYIN_HEADER_YEARS, STREETS, STRONG_KEYWORDS, TOWNS, TRADE_CHARS,
                                     VALUE_ADDED_ABSENT, MessRates)
from sez.data.synthetic.records import RAW_COLUMNS, REQUIRED_RAW
from sez.data.synthetic.files import FILE_FORMATS, file_format, read_raw_file
from sez.data.synthetic.generate import SyntheticASIE, synthetic

# importable before the split, used by the tests: the reference tables and the optional-engine probe
from sez.data.read import importable  # noqa: F401
from sez.data.synthetic.process import _area_table, _counties, _industries, _zones  # noqa: F401

__all__ = ["ALPHA_M", "BETA_0", "BETA_K", "BETA_L", "COASTAL_PROVINCES", "COASTAL_WEIGHT", "DELTA", "ENTRANT_K_SHIFT",
           "EXIT_0", "EXIT_L", "EXIT_OMEGA", "EXPORT_0", "EXPORT_FOREIGN", "EXPORT_OMEGA", "EXPORT_PERSIST",
           "EXPORT_SEZ", "INCUMBENT_MEAN_AGE", "INCUMBENT_SHARE", "INITIAL_K_MEAN", "INITIAL_K_SD", "INTEREST_RATE",
           "IOTA_0", "IOTA_K", "IOTA_OMEGA", "LABOUR_0", "LABOUR_K", "LABOUR_MEAN", "LABOUR_OMEGA", "LABOUR_WAGE",
           "MOVER_SHARE", "OUTPUT_PRICE_INDEX", "OWNERSHIP", "OWNERSHIP_SHARES_ENTRANT", "OWNERSHIP_SHARES_INCUMBENT",
           "OWNERSHIP_TFP_SHIFT", "PAPER_EXIT_0", "P_BORN_IN_ZONE", "P_BORN_IN_ZONE_FOREIGN", "REGISTRATION_TYPES",
           "RHO", "SIGMA_EPS", "SIGMA_INDUSTRY", "SIGMA_LABOUR", "SIGMA_LABOUR_FIRM", "SIGMA_MU", "SIGMA_WAGE_COUNTY",
           "SIGMA_WAGE_FIRM", "SIGMA_XI", "TARGET_CODE_YEAR", "TAU_SEZ", "VAT_RATE", "WAGE_1998", "WAGE_GROWTH",
           "WELFARE_RATE", "WHOLLY_OWNED", "ZONE_COUNTY_SHARE", "ENGLISH_HEADER_YEARS", "FALSE_POSITIVE_STREETS",
           "INDUSTRY_WORDS", "MONEY_IN_YUAN_YEAR", "NO_MESS", "PINYIN_HEADER_YEARS", "STREETS", "STRONG_KEYWORDS",
           "TOWNS", "TRADE_CHARS", "VALUE_ADDED_ABSENT", "MessRates", "RAW_COLUMNS", "REQUIRED_RAW", "FILE_FORMATS",
           "file_format", "read_raw_file", "SyntheticASIE", "synthetic"]
