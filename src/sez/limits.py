"""Every threshold that decides whether sez trusts a number or starts a large job, in one place.

Each estimator, cleaning step and table reads its threshold from here, so that a
threshold has one value and one explanation. ``docs/guarantees.md`` lists them.
"""

from __future__ import annotations

# --- Inference -------------------------------------------------------------------------------------

#: A standard error at most this share of its estimate's size (or of 1, for an estimate near 0) is
#: degenerate: it measures rounding, not sampling variation (a coefficient the fixed effects absorb, a
#: group with no variation). Its statistic and p-value are NaN, so it gets no stars.
DEGENERATE_SE = 1e-10

#: Fewer clusters than this give no clustered variance (one cluster: a sandwich of zero, or a division by
#: G - 1 = 0); every clustered estimate refuses them.
MIN_CLUSTERS = 2


# --- Data plausibility (cleaning drops values outside these bounds, counted by reason) -------------

#: The years (first, last) whose codes the shipped reference tables harmonise; a record of another year is
#: an error naming the file, year and rows, never mapped by a guess. First: 1995, when GB/T 4754-1994
#: took effect (earlier industry codes follow the 1984 classification, which the shipped crosswalks lack).
#: Last: 2013, the last ASIE year and the year whose district codes the panel uses (a code created later
#: has no 2013 equivalent, and industry codes from 2017 follow GB/T 4754-2017, which is not read).
SUPPORTED_YEARS = (1995, 2013)

#: Earliest plausible founding year: 1600. China's oldest firms still at work were founded after it
#: (Beijing Tongrentang, a drug maker, in 1669); an earlier one, or one after the record's year, is a typo
#: and is taken as unknown (the record stays: the founding year only dates the firm's age and entry).
EARLIEST_FOUNDING_YEAR = 1600

#: Most employees one firm-year can plausibly report (persons): 5 million, three times China's largest
#: industrial employer (China National Petroleum Corporation, about 1.6 million people in 2013) and more
#: than twice the world's largest (Walmart, 2.2 million). An ASIE record is one legal person, smaller still.
MAX_EMPLOYEES = 5e6

#: Largest plausible money value of one firm-year, in 1000 yuan: 1e10, i.e. 10 trillion yuan. The largest
#: Chinese industrial firms stay far below it: Sinopec Group sold about 2.8 trillion yuan in 2013, and the
#: largest total assets (China National Petroleum Corporation, State Grid) were 3 to 4 trillion yuan;
#: all above-scale industrial firms together sold about 100 trillion. A larger value (1e300, inf) is an
#: overflow, a shifted column or a wrong unit, not a firm.
MAX_MONEY = 1e10

#: The plausible range (lowest, highest) of each numeric variable of a raw record, in the units of
#: ``sez.data.columns`` (persons; 1000 yuan after the unit fix). Accounts that can hold a negative balance
#: (profit, VAT payable, welfare payable, reported value added) may be as negative as MAX_MONEY; the others
#: cannot be negative (the panel schema refuses a negative output, wage bill, export or asset). Cleaning
#: drops a record with a value outside its range, or not finite, counted by variable.
PLAUSIBLE_RANGE = {
    "employees": (0.0, MAX_EMPLOYEES),
    **dict.fromkeys(("gross_output", "intermediate_input", "exports", "sales", "wages_payable",
                     "fixed_assets_original", "fixed_assets_net", "depreciation", "accumulated_depreciation",
                     "current_assets", "total_liabilities", "total_assets", "paid_in_capital", "capital_state",
                     "capital_collective", "capital_legal_person", "capital_individual", "capital_hmt",
                     "capital_foreign"), (0.0, MAX_MONEY)),
    **dict.fromkeys(("value_added", "total_profit", "vat_payable", "welfare_payable"), (-MAX_MONEY, MAX_MONEY)),
}


# --- Estimation samples ----------------------------------------------------------------------------


# --- Sizes checked before a large allocation or a long job -----------------------------------------
