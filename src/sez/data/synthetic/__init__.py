"""Synthetic raw ASIE extracts generated from a known truth.

The generator draws a panel of manufacturing firms from a documented firm
process, writes what a statistical office would have published about them in
yearly files with the real survey's mess, and keeps the truth beside the files,
so that harmonisation, SEZ flagging, TFP estimators and treatment-effect
regressions can be checked against known answers.

Modules: ``process`` (the parameters, reference data and firm dynamics), ``mess``
(the mess rates and the firms' identities), ``records`` (each year's raw records and
the truth), ``files`` (formats, writing and reading the yearly files) and ``generate``
(:func:`synthetic`); every name below is importable from ``sez.data.synthetic``.

Firm process (every parameter is a constant of this package or an argument)
---------------------------------------------------------------------------
Firms. ``n_firms`` true firms over the survey years. A share
``INCUMBENT_SHARE`` is alive in the first year with founding years before it
(founded ``G`` years before it, ``G`` geometric with mean ``INCUMBENT_MEAN_AGE``); the others are founded
in a year drawn uniformly from the survey years. Each firm has a 4-digit
industry (GB/T 4754-2002 manufacturing codes, 2-digit 13-43, taken from the
2002->2011 crosswalk), a county (a county-level code valid in 2013 from the
administrative code history, drawn with log-normal weights, coastal provinces
``COASTAL_PROVINCES`` weighted by ``COASTAL_WEIGHT``) and an ownership group
(state, collective, private, HMT, foreign; ``OWNERSHIP_SHARES_INCUMBENT`` and
``OWNERSHIP_SHARES_ENTRANT``) with a registration-type code
(``REGISTRATION_TYPES``) and paid-in capital shares consistent with it
(state: state capital 60-100 %; collective: collective 60-100 %; private:
individuals 50-100 %; joint ventures: HMT/foreign 25-75 %, wholly owned 100 %).

Zones. A share ``ZONE_COUNTY_SHARE`` of counties (of provinces in the 2018
development-zone catalogue) hosts one zone drawn from the catalogue's zones of
that province. In a host county a firm is born inside the zone with
probability ``P_BORN_IN_ZONE`` (``P_BORN_IN_ZONE_FOREIGN`` for HMT/foreign
firms). A share ``MOVER_SHARE`` of host-county firms moves across the zone
border once, in a year drawn uniformly after its first survey year (into the
zone when born outside, out of it otherwise); its address changes that year.

Productivity. Log TFP is ``ln_tfp = omega + TAU_SEZ * sez`` where
``omega_t = RHO * omega_{t-1} + (1 - RHO) * mu_i + xi_t``,
``xi ~ N(0, SIGMA_XI)``, ``mu_i ~ N(industry + ownership shift, SIGMA_MU)``;
``TAU_SEZ`` is the known treatment effect of being inside a zone.

Production (Cobb-Douglas in value added, real 1000 yuan of the base year)::

    ln VA = BETA_0 + BETA_K k + BETA_L l + ln_tfp + eps,  eps ~ N(0, SIGMA_EPS)

Materials are the flexible input of the gross-output function
``Q = A K^{a_k} L^{a_l} M^{ALPHA_M}`` with ``a_k = BETA_K (1 - ALPHA_M)`` and
``a_l = BETA_L (1 - ALPHA_M)``: its first-order condition ``M = ALPHA_M Q``
gives ``M = ALPHA_M / (1 - ALPHA_M) * VA_planned`` (planned = before eps),
so materials are strictly increasing in ``ln_tfp`` given capital
(Levinsohn and Petrin, 2003), and ``Q = VA + M``.
Capital follows ``K_{t+1} = (1 - DELTA) K_t + I_t`` with investment
``ln I_t = IOTA_0 + IOTA_K k_t + IOTA_OMEGA ln_tfp_t``, strictly increasing in
productivity given capital (Olley and Pakes, 1996). Labour is chosen after
productivity is seen: ``l = LABOUR_0 + LABOUR_K k + LABOUR_OMEGA ln_tfp -
LABOUR_WAGE w + u`` with ``w`` the log county-year and firm wage deviation and
``u ~ N(0, SIGMA_LABOUR)`` an optimisation error, plus a fixed firm labour
intensity ``N(0, SIGMA_LABOUR_FIRM)`` (a partial adjustment to the static
first-order condition, whose productivity elasticity would be 1 / (1 - BETA_L);
Ackerberg, Caves and Frazer, 2015). Initial capital is
``INITIAL_K_MEAN (+ ENTRANT_K_SHIFT for entrants) + 0.5 IOTA_OMEGA / (1 - IOTA_K) ln_tfp
+ N(0, INITIAL_K_SD)``, half way to the investment rule's steady state. Firms exit
with probability ``logistic(EXIT_0 - EXIT_OMEGA (omega - mu_i) - EXIT_L (l -
LABOUR_MEAN))`` at the end of each year; ``exit_intercept`` replaces
``EXIT_0`` (the paper-size demo uses ``PAPER_EXIT_0`` with 1,125,000 true
firms, so that about 590,000 firms and 2.3 million firm-years remain after
cleaning, as in the SEZ paper).

Exports. Exporter status is persistent: a probit with
``EXPORT_0 + EXPORT_PERSIST * exporter_{t-1} + EXPORT_OMEGA ln_tfp +
EXPORT_FOREIGN * foreign + EXPORT_SEZ * sez``; exporters ship a firm-specific
share of sales (Beta distributed, higher for foreign firms).

Money. Nominal values (1000 yuan, current prices) are real values times
``OUTPUT_PRICE_INDEX[year]`` (1998 = 1). Wages per worker start at
``WAGE_1998`` and grow by ``WAGE_GROWTH`` a year; welfare is ``WELFARE_RATE``
of wages, VAT ``VAT_RATE`` of value added, depreciation ``DELTA`` of last year's
net book value, accumulated depreciation its running sum, total assets = net
fixed assets + current assets (a firm share of sales) + other assets >= net
fixed assets, liabilities a firm leverage times assets, profit = value added -
wages - welfare - depreciation - VAT - interest (``INTEREST_RATE`` of debt).

The mess (``mess="default"``, rates in ``MessRates``)
----------------------------------------------------
* Headers change by year: Chinese in most years (synonyms rotate), English in
  ``ENGLISH_HEADER_YEARS``, pinyin where one exists (else English) in
  ``PINYIN_HEADER_YEARS``; all from ``reference/asie_columns.csv`` so that
  ``sez.data.columns.canonical_columns`` maps them.
* Legal-person codes (9-character organisation codes with the GB 11714 check
  character) change once for ``code_change`` of firms while the name persists;
  names change once for ``name_change`` of firms while the code persists;
  ``shared_code`` of firm-years carry another firm's code of that year.
* District codes are those valid in the survey year, following the real code
  history back from the 2013 code (renames, retirements, merges and splits; a
  firm in a county formed from several old ones gets one of them).
* Industry codes are in the vintage of the year: GB/T 4754-1994 up to 2002,
  2002 from 2003 to 2011, 2011 from 2012 (a firm keeps one target code where a
  code maps to several).
* Addresses: zone firms name their zone (or a short form with a strong
  keyword); ``zone_address_omitted`` of them do not mention it;
  ``false_positive_street`` of other firms sit on streets such as 经济路,
  开发大道, 高新路, and ``weak_keyword`` in a township 工业园 that is no zone.
* ``missing_cell`` of numeric cells and ``missing_text`` of address /
  registration cells are missing; ``duplicate_row`` of rows appear twice.
* Money is in yuan instead of 1000 yuan in ``MONEY_IN_YUAN_YEAR`` (2006).
* Value added is absent in 2004 and after 2007, as in the real survey.
* Identity violations, each at ``identity_violation`` of rows: total assets
  below net fixed assets, accumulated below current depreciation, founding
  year after the survey year.
* A few firm-years have fewer than 8 employees (the labour process produces
  them; Brandt, Van Biesebroeck and Zhang, 2012, drop them).

``mess="none"`` writes clean files: English headers, 2013 district codes, 2002
industry codes, 1000 yuan, value added in every year, none of the rates above.
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
