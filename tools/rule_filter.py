"""The filters of the rules of one model, evaluated term by term once per saved batch of records.

Rules on one model share terms (``move_type = out_invoice``, ``partner_id.mobile != False``...). Each rule's
``filtered_domain`` evaluated every term again, and the cost grew with the number of rules; a conjunction is
evaluated here one term at a time, and a term's verdict on a record is kept for the next rule that has it.
"""

OPERATORS = ("&", "|", "!")


def conjunction_terms(domain):
    """The terms of a domain that is a plain conjunction (terms, with or without explicit ``&``); None when it has
    ``|`` or ``!`` (evaluated whole, as it is)."""
    terms = []
    for element in domain:
        if element == "&":
            continue
        if isinstance(element, str) and element in OPERATORS:
            return None
        if not isinstance(element, (list, tuple)) or len(element) != 3:
            return None  # not a term ``filtered_domain`` knows: let it say so
        terms.append(element)
    return terms


def term_key(term):
    """A term as a dictionary key (its value may be a list)."""
    return repr(tuple(term))


def filter_by_terms(records, domain, verdicts):
    """``records.filtered_domain(domain)``, same records in the same order.

    ``verdicts``: a dict shared by the rules evaluated on the same saved records, {term key: {record id: bool}}.
    A term is evaluated only on the records that passed the terms before it and whose verdict is not known yet."""
    terms = conjunction_terms(domain)
    if terms is None:
        return records.filtered_domain(domain)
    for term in terms:
        known = verdicts.setdefault(term_key(term), {})
        unknown = [record_id for record_id in records._ids if record_id not in known]
        if unknown:
            kept = set(records.browse(unknown).filtered_domain([term])._ids)
            known.update((record_id, record_id in kept) for record_id in unknown)
        records = records.browse([record_id for record_id in records._ids if known[record_id]])
        if not records:
            break
    return records
