//! The exclusion list as pure data.
use candela_dkls::{DklsError, ExclusionList};

#[test]
fn only_blamed_nodes_are_excluded_and_signing_sets_skip_them() {
    let mut list = ExclusionList::new();
    let blamed = DklsError::Blamed {
        party: 4,
        reason: "OT consistency check failed".into(),
        leaks_ot_state: true,
    };
    assert_eq!(list.record(&blamed), Some(4));
    assert_eq!(list.record(&blamed), None, "recorded once");
    for not_blame in [
        DklsError::SessionMismatch { party: 2 },
        DklsError::Aborted("signature verification failed".into()),
        DklsError::BadParameters("x".into()),
    ] {
        assert_eq!(list.record(&not_blame), None);
    }
    assert!(list.is_excluded(4) && !list.is_excluded(2));
    assert_eq!(
        list.choose_signers(&[0, 4, 1, 2, 3], 3).expect("enough"),
        vec![0, 1, 2]
    );
    assert!(list.choose_signers(&[4, 1, 2], 3).is_err());
    assert!(matches!(list.check(&[1, 4]), Err(DklsError::Excluded(4))));
    assert!(list.check(&[1, 2]).is_ok());
}

#[test]
fn the_exclusion_list_survives_a_round_trip_through_bytes() {
    let mut list = ExclusionList::new();
    list.exclude(9, "equivocated");
    list.exclude(1, "bad proof");
    let back = ExclusionList::from_bytes(&list.to_bytes().expect("serializes")).expect("parses");
    assert_eq!(back, list);
    assert_eq!(
        back.iter().collect::<Vec<_>>(),
        vec![(1, "bad proof"), (9, "equivocated")]
    );
    assert!(ExclusionList::from_bytes(b"\x01\xff\xff").is_err());
}
