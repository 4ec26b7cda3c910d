"""The card's student-teacher agreement table comes from the teacher stage's audit counters."""
from curate.card import _audit_lines, student_audit


def test_audit_table_lists_each_student_with_its_agreement():
    card = {"stages": [
        {"stage": "quality_static", "counters": {"documents_scored": 100}},
        {"stage": "embed_classifier", "params": {"agreement_floors": {"quality_static": 0.8, "topic": 0.8}},
         "counters": {"audit_quality_static_documents": 40, "audit_quality_static_agree": 30,
                      "audit_topic_documents": 40, "audit_topic_agree": 34,
                      "audit_domain_documents": 0, "audit_domain_agree": 0}},
    ]}
    rows = student_audit(card["stages"])
    assert [(r["student"], r["agreement"]) for r in rows] == [("quality_static", 0.75), ("topic", 0.85)]
    assert "below the floor 80%" in rows[0]["warning"] and "warning" not in rows[1]
    lines = _audit_lines(card)
    assert "| quality_static | `embed_classifier` | 40 | 75.0% **below the floor** | 80% |" in lines
    assert "| topic | `embed_classifier` | 40 | 85.0% | 80% |" in lines
    assert not any(line.startswith("| domain") for line in lines)  # nothing sampled, no row
    assert _audit_lines({"stages": [{"stage": "x", "counters": {}}]}) == []
