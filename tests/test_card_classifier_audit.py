"""The card's student-teacher agreement table comes from the teacher stage's audit counters."""
from curate.card import _audit_lines


def test_audit_table_lists_each_student_with_its_agreement():
    card = {"stages": [
        {"stage": "quality_fasttext", "counters": {"documents_scored": 100}},
        {"stage": "embed_classifier", "counters": {"audit_quality_documents": 40, "audit_quality_agree": 30,
                                                    "audit_topic_documents": 40, "audit_topic_agree": 34,
                                                    "audit_domain_documents": 0, "audit_domain_agree": 0}},
    ]}
    lines = _audit_lines(card)
    assert "| quality | `embed_classifier` | 40 | 75.0% |" in lines
    assert "| topic | `embed_classifier` | 40 | 85.0% |" in lines
    assert not any(line.startswith("| domain") for line in lines)  # nothing sampled, no row
    assert _audit_lines({"stages": [{"stage": "x", "counters": {}}]}) == []
