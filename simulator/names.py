"""Synthetic names for watch-list entries: Kazakh (own list) and Russian (Faker ru_RU).

No real person is meant. Names are drawn from a seeded stream, so a run is reproducible.
"""

from __future__ import annotations

import numpy as np
from faker import Faker

KAZAKH_MALE_FIRST = (
    "Нурлан", "Ерлан", "Асхат", "Бауыржан", "Данияр", "Ержан", "Айдос", "Дархан",
    "Серик", "Талгат", "Арман", "Ильяс", "Алибек", "Темирлан", "Жандос", "Марат",
    "Олжас", "Даурен", "Бекзат", "Руслан",
)  # fmt: skip
KAZAKH_FEMALE_FIRST = (
    "Айгерим", "Айгуль", "Динара", "Жанар", "Гульнара", "Асель", "Мадина", "Салтанат",
    "Алия", "Камила", "Назерке", "Аружан", "Дана", "Жансая", "Меруерт", "Толганай",
    "Айжан", "Сауле", "Гаухар", "Ботагоз",
)  # fmt: skip
# Surnames in their male form; the female form adds "а" (Ахметов -> Ахметова).
KAZAKH_SURNAMES = (
    "Ахметов", "Жумабаев", "Сейтказиев", "Нурпеисов", "Касымов", "Омаров", "Искаков",
    "Бекмухамбетов", "Тулегенов", "Абдрахманов", "Карабаев", "Ермеков", "Жаксылыков",
    "Кенжебаев", "Мухамеджанов", "Байжанов", "Есимов", "Садыков", "Утепов", "Шаримов",
)  # fmt: skip


def kazakh_name(rng: np.random.Generator, female: bool) -> str:
    surname = str(rng.choice(KAZAKH_SURNAMES)) + ("а" if female else "")
    first = str(rng.choice(KAZAKH_FEMALE_FIRST if female else KAZAKH_MALE_FIRST))
    return f"{surname} {first}"


class NameMaker:
    """Seeded full names ("Surname First"), about 60% Kazakh and 40% Russian."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._faker = Faker("ru_RU")
        self._faker.seed_instance(int(rng.integers(2**31)))

    def name(self, female: bool) -> str:
        if self._rng.random() < 0.6:
            return kazakh_name(self._rng, female)
        f = self._faker
        if female:
            return f"{f.last_name_female()} {f.first_name_female()}"
        return f"{f.last_name_male()} {f.first_name_male()}"
